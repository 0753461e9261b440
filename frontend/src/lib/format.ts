export function formatDate(unixSeconds: number, lang: string): string {
  return new Date(unixSeconds * 1000).toLocaleString(lang === "ko" ? "ko-KR" : "en-US", { dateStyle: "medium", timeStyle: "short" });
}

export function formatNumber(n: number, lang: string): string {
  return n.toLocaleString(lang === "ko" ? "ko-KR" : "en-US");
}
