// Shapes of the api's JSON bodies (services/api/README.md, contracts/*.py).

export type Role = "user" | "admin";

export interface User {
  id: string;
  email: string;
  role: Role;
  disabled: boolean;
  created_at: number;
}

export interface TokenPair {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: number;
  last_used_at?: number | null;
  revoked?: boolean;
}

export interface ApiKeyCreated {
  key: ApiKey;
  secret: string;
}

export interface UserSettings {
  system_prompt?: string | null;
  model?: string | null;
  temperature?: number | null;
  top_p?: number | null;
  max_tokens?: number | null;
}

export type ModelState = "ready" | "loading" | "draining" | "failed" | "offline";

export interface Sampling {
  temperature: number;
  top_p: number;
  max_tokens: number;
}

export interface UserModel {
  id: string;
  display_name: string;
  aliases: string[];
  defaults: Sampling | null;
  max_model_len: number | null;
  state: ModelState;
  ready_workers: number;
}

export interface ModelList {
  source: "model-admin" | "whitelist";
  default_model: string;
  models: UserModel[];
}

export type MessageRole = "system" | "user" | "assistant";
export type MessageStatus = "complete" | "cancelled" | "failed";

export interface Message {
  id: string;
  role: MessageRole;
  content: string;
  token_in?: number | null;
  token_out?: number | null;
  status: MessageStatus;
  request_id?: string | null;
  created_at: number;
  truncated?: boolean;
}

export interface Conversation {
  id: string;
  user_id: string;
  title: string;
  system_prompt?: string | null;
  created_at: number;
  updated_at: number;
  message_count: number;
  active_request_id?: string | null;
}

export interface ConversationList {
  items: Conversation[];
  total: number;
}

export interface ConversationPage {
  conversation: Conversation;
  messages: Message[];
  has_more: boolean;
  next_before: string | null;
  /** The conversation's chat still generating (GET /api/conversations/{id}). */
  active_request_id?: string | null;
}

export interface ChatMessageIn {
  role: MessageRole;
  content: string;
}

export interface ChatBody {
  messages: ChatMessageIn[];
  model?: string;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  system_prompt?: string;
  conversation_id?: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface UserPage {
  items: User[];
  total: number;
}

export interface WorkerHardware {
  device: string;
  count: number;
  memory_gib: number;
  name?: string;
  numa_nodes?: number | null;
  cpu_count?: number | null;
}

export interface ProfileSummary {
  id: string;
  display_name: string;
  hf_model: string;
  aliases: string[];
  whitelisted: boolean;
  source: "shipped" | "added";
  device: string;
  tensor_parallel_size: number;
  quantization: string;
  max_model_len: number;
  sampling: Sampling;
  state: ModelState;
  groups: string[];
  workers: number;
  ready_workers: number;
}

export interface AdminWorker {
  worker_id: string;
  group: string;
  profile_id: string | null;
  state: string;
  in_flight: number;
  capacity: number;
  queue_depth: number | null;
  hardware: WorkerHardware | null;
  engine: string;
  detail: string;
  command_id: string | null;
  last_seen_s: number;
  gone: boolean;
  engine_stats: Record<string, number>;
}

export interface AdminModels {
  profiles: ProfileSummary[];
  workers: AdminWorker[];
}

export interface CompatibilityReport {
  fits: boolean;
  needed_gib: number;
  available_gib: number;
  reason: string;
  breakdown?: Record<string, number>;
}

export interface HardwareCheck {
  hardware: WorkerHardware;
  worker_ids: string[];
  report: CompatibilityReport;
}

export interface DryRun {
  dry_run: true;
  profile_id: string;
  group: string | null;
  fits: boolean;
  needed_gib: number;
  available_gib: number;
  reason: string;
  checks: HardwareCheck[];
}

export interface Activated {
  dry_run: false;
  accepted: { command_id: string; group: string; profile_id: string };
}

export type SwapPhase = "draining" | "unloading" | "loading" | "ready" | "failed" | "rolled_back";

export interface SwapStatus {
  command_id: string;
  worker_id: string;
  group: string;
  profile_id: string;
  phase: SwapPhase;
  detail: string;
  at: number;
  swap_s?: number | null;
}

export interface WorkerStatus {
  worker_id: string;
  model: string;
  state: string;
  in_flight: number;
  capacity: number;
  engine: string;
  detail?: string;
  profile_id?: string | null;
  queue_depth?: number | null;
  hardware?: WorkerHardware | null;
  command_id?: string | null;
}

export interface AdminChange {
  kind: "worker" | "swap" | "desired" | "aliases";
  worker?: { status: WorkerStatus; gone: boolean; age_s: number } | null;
  swap?: SwapStatus | null;
  desired?: { group: string; profile_id: string; command_id: string } | null;
  at: number;
}

export interface UsageCounts {
  requests: number;
  completed: number;
  failed: number;
  cancelled: number;
  in_progress: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  avg_ttft_ms: number | null;
  p50_ttft_ms: number | null;
  p95_ttft_ms: number | null;
  avg_latency_ms: number | null;
}

export interface UsageReport {
  start: string;
  end: string;
  user_id: string | null;
  model: string | null;
  totals: UsageCounts;
  by_day: (UsageCounts & { day: string })[];
  by_model: (UsageCounts & { model: string })[];
  by_user?: (UsageCounts & { user_id: string })[] | null;
}
