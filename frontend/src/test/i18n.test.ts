import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import en from "../i18n/en.json";
import ko from "../i18n/ko.json";
import { detectLanguage } from "../i18n";
import { allErrorKeys } from "../lib/errorMessages";

type Tree = { [k: string]: string | Tree };

function flatten(tree: Tree, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out[key] = v;
    else Object.assign(out, flatten(v, key));
  }
  return out;
}

/** Plural / ordinal suffixes differ by language (ko has only `_other`): compare the base keys. */
function base(key: string): string {
  return key.replace(/_(ordinal_)?(zero|one|two|few|many|other)$/, "");
}

const enFlat = flatten(en as Tree);
const koFlat = flatten(ko as Tree);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === "test" ? [] : sourceFiles(p);
    return /\.tsx?$/.test(f) ? [p] : [];
  });
}

describe("i18n resources", () => {
  it("have the same keys in English and Korean", () => {
    const a = [...new Set(Object.keys(enFlat).map(base))].sort();
    const b = [...new Set(Object.keys(koFlat).map(base))].sort();
    expect(b).toEqual(a);
  });

  it("have no empty strings and the same placeholders", () => {
    for (const [key, value] of Object.entries(enFlat)) {
      expect(value.trim(), key).not.toBe("");
      const ph = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
      const koKey = key in koFlat ? key : key.replace(/_(ordinal_)?(one|two|few)$/, "_$1other");
      expect(ph(koFlat[koKey] ?? ""), key).toEqual(ph(value));
    }
  });

  it("contain every literal key used in the sources", () => {
    const root = join(__dirname, "..");
    const keys = new Set(Object.keys(enFlat).map(base));
    for (const file of sourceFiles(root)) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/\bt\(\s*"([a-zA-Z0-9_.]+)"/g)) expect(keys.has(m[1]!), `${m[1]} in ${file}`).toBe(true);
    }
  });

  it("contain every error message key with a title and a hint", () => {
    for (const key of allErrorKeys()) {
      for (const part of ["title", "hint"]) {
        expect(enFlat[`${key}.${part}`], `${key}.${part}`).toBeTruthy();
        expect(koFlat[`${key}.${part}`], `${key}.${part}`).toBeTruthy();
      }
    }
  });

  it("detects the saved language first, then the browser's", () => {
    expect(detectLanguage("en", ["ko-KR"])).toBe("en");
    expect(detectLanguage(null, ["ko-KR", "en-US"])).toBe("ko");
    expect(detectLanguage(null, ["fr-FR", "en-GB"])).toBe("en");
    expect(detectLanguage(null, ["fr"])).toBe("en");
  });
});
