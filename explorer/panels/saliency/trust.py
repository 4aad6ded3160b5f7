"""The trust view: sanity checks (do the maps change when the weights do?), faithfulness and robustness metrics, and
where the metrics disagree about which method is best. All jobs on a copy of the model, off the kernel's thread."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import lab
from ...saliency.disagreement import metric_agreement
from ...table import Table
from .._common import guarded, load_bokeh
from .._runner import JobBar, Runner

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


class TrustView(W.VBox):
    """For the compared methods: Spearman curves over the layers randomised (Adebayo et al. 2018), and a table of
    the metrics with their rank agreement."""

    def __init__(self, maps, compare, ranking, error):
        from bokeh.models import ColumnDataSource
        from bokeh.plotting import figure
        from jupyter_bokeh import BokehModel

        load_bokeh()
        self.maps, self.compare, self.ranking, self.error = maps, compare, ranking, error
        self.mode = W.ToggleButtons(options=["cascading", "independent"], value="cascading", description="randomise")
        self.trust_n = W.IntSlider(8, min=2, max=64, description="images", continuous_update=False)
        self.sanity_button = W.Button(description="Sanity checks", icon="random")
        self.metrics_button = W.Button(description="Trust metrics", icon="balance-scale")
        self.trust_progress = JobBar("trust")
        self.runner = Runner(maps.session, self.trust_progress)
        self.sources = [ColumnDataSource({"x": [], "y": []}) for _ in COLOURS]
        self.figure = figure(title="rank correlation with the original maps", width=560, height=300,
                             x_range=["original"], y_range=(-1.05, 1.05), toolbar_location=None,
                             x_axis_label="layers randomised (top down)", y_axis_label="Spearman")
        self.figure.xaxis.major_label_orientation = 0.8
        for source, colour in zip(self.sources, COLOURS):
            self.figure.line("x", "y", source=source, color=colour, line_width=2)
        self.legend, self.trust_table = W.HTML(), W.HTML()
        self.sanity_, self.trust_rows_ = None, []
        self.sanity_button.on_click(self.sanity)
        self.metrics_button.on_click(self.metrics)
        super().__init__([W.HBox([self.sanity_button, self.mode, self.trust_n]), self.trust_progress,
                          BokehModel(self.figure), self.legend, W.HBox([self.metrics_button]), self.trust_table])

    def methods(self) -> list[str]:
        """The compared methods (the first 8), or the current one."""
        return list(self.compare.compare_methods.value)[:len(COLOURS)] or [self.maps.method.value]

    @guarded
    def sanity(self, button=None) -> None:
        """Model randomisation of the compared methods."""
        m = self.maps
        job = lab.sanity_job(m.session, self.methods(), self.trust_n.value, m.split, m.layers(), self.mode.value)
        sampled = self.sampled(job)
        self.runner.submit(job, lambda r: self._show_sanity(r, sampled), self.error.show)

    def sampled(self, job) -> str:
        """The job's images in words (its key ends with the seed of the sample)."""
        m = self.maps
        return m.session.data.describe_sample(m.split, self.trust_n.value, job.key[-1])

    @guarded
    def _show_sanity(self, r, sampled: str = "") -> None:
        self.sanity_ = r
        self.figure.x_range.factors = list(r["layers"])
        names = list(r["methods"])
        for i, source in enumerate(self.sources):
            curve = r["methods"][names[i]]["spearman"] if i < len(names) else []
            source.data = {"x": list(r["layers"])[:len(curve)], "y": list(curve)}
        self.legend.value = ("colours: " + ", ".join(f"<span style='color:{c}'>&#9632; {text(n)}</span>"
                                                     for c, n in zip(COLOURS, names))
                             + f" ({r['mode']}, on {sampled}); a map that stays near 1 does not depend on the "
                             "weights")

    @guarded
    def metrics(self, button=None) -> None:
        """The five trust metrics of the compared methods."""
        m = self.maps
        job = lab.trust_job(m.session, self.methods(), self.trust_n.value, m.split, m.layers())
        sampled = self.sampled(job)
        self.runner.submit(job, lambda rows: self._show_metrics(rows, sampled), self.error.show)

    @guarded
    def _show_metrics(self, rows, sampled: str = "") -> None:
        self.trust_rows_ = rows
        text = f"<small>on {sampled}</small>" + Table(rows).to_html()
        both = self._merged(rows)
        if len(both) >= 2:
            agree = metric_agreement(both)
            text += ("<b>Do the metrics agree on the order of the methods?</b> (Kendall's tau; 1: the same order)"
                     + Table([{"metric": a, **{b: round(v, 2) for b, v in zip(agree["metrics"], row)}}
                              for a, row in zip(agree["metrics"], agree["matrix"])]).to_html())
        self.trust_table.value = text

    def _merged(self, rows) -> list[dict]:
        """These rows joined with the ranking table's, by method, where it has been computed."""
        ranked = {r["method"]: r for r in self.ranking.rows_}
        return [{**{k: v for k, v in ranked.get(r["method"], {}).items() if k not in ("rank", "seconds")}, **r}
                for r in rows]
