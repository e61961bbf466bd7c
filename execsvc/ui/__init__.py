"""The map page served at `/ui`: `index.html`, `app.js`, `app.css` (package data).

Plain HTML, CSS and JavaScript without a framework or a charting library: the charts are
SVG rendered by the server (`execsvc.charts`); the page inlines them, adds tooltips, follows
`/stream/maps` and ticks the map's age. It loads nothing from other hosts, so it works offline.
"""
