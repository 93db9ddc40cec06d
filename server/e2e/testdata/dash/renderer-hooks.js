// tokenhook + Plotly Dash: start the Dash renderer with tokenhook's request
// hooks, so the layout, dependency and callback requests carry the viewer's
// bearer token and a "JWT Expired" answer is refreshed through
// request_refresh_jwt.
//
// In a Dash app, this line replaces the default renderer script:
//     app.renderer = "var renderer = new DashRenderer(TokenHook.dash());"
// with /_tokenhook/tokenhook.js loaded before it (for example through
// external_scripts). In a hand-written page, load this file after
// dash_renderer.min.js and the component bundles.
var renderer = new DashRenderer(TokenHook.dash());
