import { describe, expect, it } from "vitest";
import { splitBlocks } from "../lib/markdownBlocks";

describe("splitBlocks", () => {
  it("splits paragraphs at blank lines", () => {
    expect(splitBlocks("one\ntwo\n\nthree\n\n\nfour")).toEqual(["one\ntwo", "three", "four"]);
  });

  it("keeps fenced code with blank lines in one block, even unterminated", () => {
    const md = "intro\n\n```py\na = 1\n\nb = 2\n```\n\nafter";
    expect(splitBlocks(md)).toEqual(["intro", "```py\na = 1\n\nb = 2\n```", "after"]);
    expect(splitBlocks("```\ncode\n\nmore")).toEqual(["```\ncode\n\nmore"]);
  });

  it("keeps a loose list and indented continuations together", () => {
    expect(splitBlocks("- a\n\n- b\n\n  more b\n\nend")).toEqual(["- a\n\n- b\n\n  more b", "end"]);
  });

  it("keeps a table in one block", () => {
    const table = "| a | b |\n| - | - |\n| 1 | 2 |";
    expect(splitBlocks(`text\n\n${table}`)).toEqual(["text", table]);
  });

  it("finished blocks do not change as text grows (only the last does)", () => {
    const full = "# Title\n\npara one\n\n```js\nlet x;\n```\n\n- item\n- item2\n\nlast words here";
    let previous: string[] = [];
    for (let i = 1; i <= full.length; i++) {
      const blocks = splitBlocks(full.slice(0, i));
      for (let b = 0; b < previous.length - 1; b++) expect(blocks[b]).toBe(previous[b]);
      previous = blocks;
    }
    expect(previous.length).toBe(5);
  });

  it("handles empty text", () => {
    expect(splitBlocks("")).toEqual([]);
  });
});
