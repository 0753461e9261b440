import type { ModelList, UserSettings } from "../api/types";

export interface EffectiveDefaults {
  model: string | null;
  systemPrompt: string;
  temperature: number | null;
  topP: number | null;
  maxTokens: number | null;
}

/** The defaults a chat gets when it sets nothing: the user's settings, then the model's. */
export function effectiveDefaults(chosenModel: string | null, settings: UserSettings | undefined, models: ModelList | undefined): EffectiveDefaults {
  const modelId = chosenModel ?? settings?.model ?? models?.default_model ?? null;
  const model = models?.models.find((m) => m.id === modelId || m.aliases.includes(modelId ?? ""));
  return {
    model: modelId,
    systemPrompt: settings?.system_prompt ?? "",
    temperature: settings?.temperature ?? model?.defaults?.temperature ?? null,
    topP: settings?.top_p ?? model?.defaults?.top_p ?? null,
    maxTokens: settings?.max_tokens ?? model?.defaults?.max_tokens ?? null,
  };
}
