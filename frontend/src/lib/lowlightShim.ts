// lowlight's entry module also exports its 37 "common" grammars and all the others; the
// build aliases `lowlight` to this module so that only createLowlight is bundled and
// src/lib/highlight.ts registers the dozen grammars it needs.
export { createLowlight } from "../../node_modules/lowlight/lib/index.js";
