"""Bar charts as inline SVG geometry, computed in Python so the template only draws them
(no chart library, nothing for the Content-Security-Policy to block)."""

from dataclasses import dataclass

CHART_WIDTH = 600
CHART_HEIGHT = 160
LABEL_SPACE = 18


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float
    label: str
    series: int = 1


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    labels: list[Bar]  # every few bars, the x-axis label to print
    peak: float
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def baseline(self) -> int:
        return self.height - LABEL_SPACE


def bar_chart(points: list[tuple[str, list[float]]], *, label_every: int = 7) -> Chart:
    """`points`: (label, [value of series 1, value of series 2, ...]) in order."""
    series_count = max((len(values) for _, values in points), default=1)
    peak = max((value for _, values in points for value in values), default=0) or 1
    plot_height = CHART_HEIGHT - LABEL_SPACE - 4
    slot = CHART_WIDTH / max(len(points), 1)
    bar_width = min(max(slot * 0.8 / series_count, 1), 48)
    bars: list[Bar] = []
    labels: list[Bar] = []
    for index, (label, values) in enumerate(points):
        for series, value in enumerate(values, start=1):
            height = plot_height * value / peak
            x = index * slot + slot * 0.1 + (series - 1) * bar_width
            bars.append(
                Bar(
                    x=round(x, 1),
                    y=round(CHART_HEIGHT - LABEL_SPACE - height, 1),
                    width=round(bar_width, 1),
                    height=round(height, 1),
                    value=value,
                    label=label,
                    series=series,
                )
            )
        if index % label_every == 0:
            # Kept clear of the edges so the first and last labels are not cut in half.
            centre = min(max(index * slot + slot / 2, 18), CHART_WIDTH - 18)
            labels.append(
                Bar(
                    x=round(centre, 1),
                    y=CHART_HEIGHT - 4,
                    width=0,
                    height=0,
                    value=0,
                    label=label,
                )
            )
    return Chart(bars=bars, labels=labels, peak=peak)
