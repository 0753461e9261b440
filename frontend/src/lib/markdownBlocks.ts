/**
 * Splits markdown into top-level blocks (paragraphs, lists, tables, fenced code...) at blank
 * lines outside code fences, so a streaming answer renders every finished block once and
 * only the last, growing block again. A block that continues the previous one (indented
 * continuation of a list item) stays with it, as do the items of a loose list.
 */
export function splitBlocks(markdown: string): string[] {
  const lines = markdown.split("\n");
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  let blankSeen = false;

  const flush = () => {
    if (current.length) blocks.push(current.join("\n"));
    current = [];
  };

  for (const line of lines) {
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      current.push(line);
      if (fenceMatch && fenceMatch[1]!.startsWith(fence[0]!) && fenceMatch[1]!.length >= fence.length && line.trim() === fenceMatch[1]) fence = null;
      continue;
    }
    if (line.trim() === "") {
      if (current.length) blankSeen = true;
      if (current.length) current.push(line);
      continue;
    }
    if (blankSeen) {
      const continues = /^\s{2,}\S/.test(line) || (isListItem(line) && isListItem(firstLine(current)));
      if (!continues) {
        trimTrailingBlank(current);
        flush();
      }
      blankSeen = false;
    }
    current.push(line);
    if (fenceMatch) fence = fenceMatch[1]!;
  }
  if (!fence) trimTrailingBlank(current);
  flush();
  return blocks;
}

function firstLine(lines: string[]): string {
  return lines[0] ?? "";
}

function isListItem(line: string): boolean {
  return /^\s{0,3}([-*+]|\d{1,9}[.)])\s/.test(line);
}

function trimTrailingBlank(lines: string[]): void {
  while (lines.length && lines[lines.length - 1]!.trim() === "") lines.pop();
}
