import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import { Markdown } from "../components/Markdown";

describe("Markdown", () => {
  it("highlights fenced code of a registered language (and its aliases)", () => {
    for (const fence of ["python", "py"]) {
      const html = renderToStaticMarkup(<Markdown text={"```" + fence + "\ndef f(x):\n    return 1\n```"} />);
      expect(html).toContain('class="language-' + fence + ' hljs"');
      expect(html).toContain('<span class="hljs-keyword">def</span>');
    }
  });

  it("leaves unknown languages and plain fences as text", () => {
    const html = renderToStaticMarkup(<Markdown text={"```cobol\nDISPLAY 'HI'.\n```\n\n```\nplain\n```"} />);
    expect(html).not.toContain("hljs");
    expect(html).toContain("DISPLAY &#x27;HI&#x27;.");
    expect(html).toContain("plain");
  });

  it("renders GFM tables and the same block again from the cache", () => {
    const table = "| a | b |\n| - | - |\n| 1 | 2 |";
    const first = renderToStaticMarkup(<Markdown text={table} />);
    expect(first).toContain("<table>");
    expect(renderToStaticMarkup(<Markdown text={`intro\n\n${table}`} />)).toContain(first.replace('<div class="markdown break-words">', "").replace("</div>", ""));
  });
});
