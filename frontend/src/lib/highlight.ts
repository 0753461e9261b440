import type { Element, ElementContent, Root, RootContent } from "hast";
import { createLowlight } from "lowlight";
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

// One highlighter for the whole app, its grammars compiled once. (rehype-highlight builds
// a new one, registering every grammar again, each time a markdown block renders: while an
// answer streams that was most of the work of a frame.)
const lowlight = createLowlight({ bash, css, go, java, javascript, json, python, rust, sql, typescript, xml, yaml });
lowlight.registerAlias({ bash: ["sh", "shell"], javascript: ["js"], typescript: ["ts"], python: ["py"], xml: ["html"], yaml: ["yml"] });

function textOf(node: ElementContent): string {
  if (node.type === "text") return node.value;
  if (node.type === "element") return node.children.map(textOf).join("");
  return "";
}

function languageOf(code: Element): string | null {
  const classes = code.properties.className;
  if (!Array.isArray(classes)) return null;
  for (const name of classes) {
    if (typeof name === "string" && name.startsWith("language-")) return name.slice("language-".length);
  }
  return null;
}

function highlightCode(code: Element): void {
  const language = languageOf(code);
  if (!language || !lowlight.registered(language)) return;
  const tree = lowlight.highlight(language, code.children.map(textOf).join(""));
  const classes = Array.isArray(code.properties.className) ? code.properties.className : [];
  code.properties.className = [...classes, "hljs"];
  code.children = tree.children as ElementContent[];
}

function visit(nodes: (RootContent | ElementContent)[]): void {
  for (const node of nodes) {
    if (node.type !== "element") continue;
    if (node.tagName === "pre") {
      for (const child of node.children) if (child.type === "element" && child.tagName === "code") highlightCode(child);
    } else {
      visit(node.children);
    }
  }
}

/** Rehype plugin: highlights ```lang fenced code of the registered languages. */
export function rehypeCodeHighlight() {
  return (tree: Root) => visit(tree.children);
}
