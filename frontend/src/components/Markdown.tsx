import { memo, useMemo, type ReactNode } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";
import rehypeHighlight from "rehype-highlight";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import typescript from "highlight.js/lib/languages/typescript";
import python from "highlight.js/lib/languages/python";
import json from "highlight.js/lib/languages/json";
import xml from "highlight.js/lib/languages/xml";
import css from "highlight.js/lib/languages/css";
import sql from "highlight.js/lib/languages/sql";
import yaml from "highlight.js/lib/languages/yaml";
import go from "highlight.js/lib/languages/go";
import rust from "highlight.js/lib/languages/rust";
import java from "highlight.js/lib/languages/java";
import { splitBlocks } from "../lib/markdownBlocks";
import { CopyButton } from "./CopyButton";

const languages = { bash, sh: bash, shell: bash, javascript, js: javascript, typescript, ts: typescript, python, py: python, json, xml, html: xml, css, sql, yaml, yml: yaml, go, rust, java };
const rehypePlugins: [typeof rehypeHighlight, { languages: typeof languages; detect: boolean; ignoreMissing: boolean }][] = [
  [rehypeHighlight, { languages, detect: false, ignoreMissing: true }],
];
const remarkPlugins = [remarkGfm];

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

/** One markdown block, rendered once per distinct text. */
export const MarkdownBlock = memo(function MarkdownBlock({ text }: { text: string }) {
  return (
    <ReactMarkdown remarkPlugins={remarkPlugins} rehypePlugins={rehypePlugins} components={components}>
      {text}
    </ReactMarkdown>
  );
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
