"""Server-rendered charts: pure functions from stored documents to SVG strings.

- `svg_map.render_map_svg`: the liquidation map (bars by leverage, cumulative curves, price
  line, clusters, axes, legend).
- `svg_heatmap.render_heatmap_svg`: the map over time from the worker's bounded history.

No JavaScript charting library: the page (`execsvc/ui`) inlines these SVGs.
"""

from execsvc.charts.svg_heatmap import render_heatmap_svg
from execsvc.charts.svg_map import render_map_svg

__all__ = ["render_heatmap_svg", "render_map_svg"]
