import { memo, useMemo, type ReactElement, type ReactNode } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";
import { rehypeCodeHighlight } from "../lib/highlight";
import { splitBlocks } from "../lib/markdownBlocks";
import { CopyButton } from "./CopyButton";

const remarkPlugins = [remarkGfm];
const rehypePlugins = [rehypeCodeHighlight];

function textOf(node: ReactNode): string {
  if (typeof node === "string" || typeof node === "number") return String(node);
  if (Array.isArray(node)) return node.map(textOf).join("");
  if (node && typeof node === "object" && "props" in node) {
    const props = (node as { props: { children?: ReactNode } }).props;
    return textOf(props.children);
  }
  return "";
}

const components: Components = {
  pre({ children }) {
    const code = textOf(children).replace(/\n$/, "");
    return (
      <div className="relative my-2 rounded-md bg-gray-100 dark:bg-gray-900 border border-gray-200 dark:border-gray-700">
        <div className="absolute right-2 top-2">
          <CopyButton text={code} testId="code-copy" className="bg-white/80 dark:bg-gray-800/80" />
        </div>
        <pre className="p-3 pr-16 text-sm">{children}</pre>
      </div>
    );
  },
  a({ children, href }) {
    return <a href={href} target="_blank" rel="noreferrer noopener">{children}</a>;
  },
};

const BLOCK_CACHE_SIZE = 2000;
const rendered = new Map<string, ReactElement>();

/**
 * The element tree of one block, parsed once per distinct text (LRU): the answer that just
 * finished streaming, a conversation opened again or a page of older messages mounts the
 * blocks it already parsed instead of parsing and highlighting them anew.
 */
function renderBlock(text: string): ReactElement {
  const cached = rendered.get(text);
  if (cached) {
    rendered.delete(text);
    rendered.set(text, cached);
    return cached;
  }
  // react-markdown's sync component is a plain function (no hooks): its output can be kept.
  const element = ReactMarkdown({ children: text, remarkPlugins, rehypePlugins, components });
  rendered.set(text, element);
  if (rendered.size > BLOCK_CACHE_SIZE) rendered.delete(rendered.keys().next().value as string);
  return element;
}

/**
 * Parse a sample of every construct once while the page is idle: the first answer then
 * does not pay for compiling the parser, GFM and the highlighter (on a slow CPU that was
 * several 100-270 ms tasks in its first second).
 */
function warmUp(): void {
  const sample = [
    "# Title\n\nText with **bold**, `code` and a [link](https://example.com).",
    "- one\n- two\n\n1. first\n2. second\n\n> quoted",
    "| a | b |\n| --- | ---: |\n| 1 | 2 |",
    "```python\ndef f(x: int) -> int:\n    return x + 1\n```",
    "```js\nconst f = (x) => x + 1;\n```",
  ];
  for (const text of sample) renderBlock(text);
}

if (typeof window !== "undefined") {
  const idle = window.requestIdleCallback ?? ((cb: () => void) => window.setTimeout(cb, 1000));
  idle(() => warmUp());
}

/** One markdown block, rendered once per distinct text. */
export const MarkdownBlock = memo(function MarkdownBlock({ text }: { text: string }) {
  return <div className="md-block">{renderBlock(text)}</div>;
});

/** A whole message: its blocks, finished ones memoized; only a changed block renders again. */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  const blocks = useMemo(() => splitBlocks(text), [text]);
  return (
    <div className="markdown break-words">
      {blocks.map((block, i) => (
        <MarkdownBlock key={i} text={block} />
      ))}
    </div>
  );
});
