// What every renderer provides (the interface lives with the other target types in target.ts).
export type { Renderer } from './target.js'
