// rehype-highlight registers lowlight's 37 "common" grammars unless told otherwise, and its
// static import keeps them all in the bundle. The build aliases `lowlight` to this module:
// the same createLowlight, with no bundled grammars; src/components/Markdown.tsx registers
// the handful it needs.
export { createLowlight } from "../../node_modules/lowlight/lib/index.js";

export const common = {};
export const all = {};
