// The VIZ UI's stylesheet (inlined into the bundle: one file, no requests besides the data).
export const CSS = `
* { box-sizing: border-box }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: #1d2330; background: #f5f6f8; height: 100vh; overflow: hidden }
#app { display: grid; grid-template-columns: 290px 1fr; height: 100vh }
nav { background: #1d2330; color: #d5dae3; overflow-y: auto; padding: 8px 0 }
nav h1 { font-size: 15px; margin: 4px 12px 8px; color: #fff }
nav h2 { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: #8a94a6; margin: 14px 12px 4px }
nav a { display: block; padding: 2px 12px; color: #d5dae3; text-decoration: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis }
nav a:hover { background: #2c3447 } nav a.active { background: #3b4a6b; color: #fff }
nav a small { color: #8a94a6 } nav input { margin: 0 12px; width: calc(100% - 24px); padding: 3px 6px; border-radius: 4px; border: 0 }
main { overflow: hidden; display: flex; flex-direction: column; min-width: 0 }
header { padding: 8px 14px; background: #fff; border-bottom: 1px solid #dde1e8 }
header h2 { margin: 0 0 2px; font-size: 16px } header .meta { color: #5b6475 }
.body { flex: 1; display: flex; min-height: 0 }
.side { width: 360px; overflow: auto; padding: 10px 14px; background: #fff; border-left: 1px solid #dde1e8 }
.graph-wrap { flex: 1; position: relative; min-width: 0 }
svg.graph { width: 100%; height: 100%; display: block; cursor: grab; background: #fbfbfc }
svg.graph .edges { fill: none; stroke: #9aa3b2; stroke-width: 1 } svg.graph .edges.hot { stroke: #d6336c; stroke-width: 2 }
svg.graph .node rect { stroke: #4a5263; stroke-width: .8 } svg.graph .node text { font: 11px ui-monospace, monospace; text-anchor: middle; fill: #111 }
svg.graph .node text.sub { fill: #444; font-size: 10px } svg.graph.far text { display: none }
svg.graph .node.hl-new rect { stroke: #1a9c3e; stroke-width: 3 } svg.graph .node.hl-old rect { stroke: #d6336c; stroke-width: 3 }
svg.graph .node.focus rect { stroke-width: 4 } svg.graph .node { cursor: pointer }
.legend { position: absolute; left: 8px; bottom: 6px; background: #fffd; padding: 3px 6px; border-radius: 4px; font-size: 11px }
.legend span { margin-right: 8px } .legend i { display: inline-block; width: 10px; height: 10px; border: 1px solid #555; margin-right: 3px; vertical-align: -1px }
.controls { display: flex; gap: 6px; align-items: center; margin-top: 6px; flex-wrap: wrap }
button { font: inherit; padding: 2px 10px; border: 1px solid #b8bfcc; border-radius: 4px; background: #fff; cursor: pointer }
button.on { background: #3b4a6b; color: #fff }
input[type=range] { width: 260px }
pre { margin: 0; font: 12px/1.45 ui-monospace, monospace; white-space: pre; overflow: auto }
pre.source { background: #1e2230; color: #e6e6e6; padding: 10px; flex: 1; min-width: 0 }
pre.source .k { color: #c792ea } pre.source .t { color: #82aaff } pre.source .n { color: #f78c6c } pre.source .s { color: #c3e88d }
pre.source .c { color: #7f8aa3; font-style: italic } pre.source .pp { color: #89ddff } pre.source .ln { color: #596079; user-select: none }
.expr { font: 12px ui-monospace, monospace; background: #f1f3f6; padding: 6px; border-radius: 4px; word-break: break-all; white-space: pre-wrap }
table { border-collapse: collapse; width: 100% } td, th { text-align: left; padding: 2px 8px; border-bottom: 1px solid #eceef2; white-space: nowrap }
th { font-weight: 600; color: #5b6475 } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums }
.scroll { overflow: auto; flex: 1; padding: 10px 14px }
.steps a { display: inline-block; margin: 2px 6px 2px 0; padding: 1px 8px; border: 1px solid #b8bfcc; border-radius: 10px; color: #1d2330; text-decoration: none; cursor: pointer }
.steps a.on { background: #3b4a6b; color: #fff }
.kernel-top { display: flex; gap: 0; height: 46%; min-height: 180px; border-bottom: 1px solid #dde1e8 }
.opts { width: 260px; padding: 8px 12px; background: #fff; overflow: auto }
svg.timeline { display: block; width: 100%; background: #fff; border-bottom: 1px solid #dde1e8; cursor: grab }
svg.timeline text { font: 11px system-ui, sans-serif; fill: #333 } svg.timeline .bar { stroke: #0003 }
.muted { color: #8a94a6 }
`
