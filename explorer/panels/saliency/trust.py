"""The trust view: sanity checks (do the maps change when the weights do?), faithfulness and robustness metrics, and
where the metrics disagree about which method is best. All jobs on a copy of the model, off the kernel's thread."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import lab
from ...saliency.evaluation.disagreement import metric_agreement
from ...table import Table
from .._common import guarded, load_bokeh
from .._jobbar import JobBar
from .._view import View
from ..bokehjs import view

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


class TrustView(View):
    """For the compared methods: Spearman curves over the layers randomised (Adebayo et al. 2018), and a table of
    the metrics with their rank agreement (joined with the ranking's metrics from the state)."""

    again = "press <b>Sanity checks</b> or <b>Trust metrics</b>"
    acts = {"sanity": "curves", "metrics": "table"}  # what each button draws in (a restored tour presses them again)

    def __init__(self, state, error):
        from bokeh.models import ColumnDataSource
        from bokeh.plotting import figure

        load_bokeh()
        self.mode = W.ToggleButtons(options=["cascading", "independent"], value="cascading", description="randomise",
                                 style={"description_width": "initial"})
        self.trust_n = W.IntSlider(8, min=2, max=64, description="images", continuous_update=False)
        self.sanity_button = W.Button(description="Sanity checks", icon="random")
        self.metrics_button = W.Button(description="Trust metrics", icon="balance-scale")
        self.trust_progress = JobBar("trust")
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
        super().__init__(state, error, [W.HBox([self.sanity_button, self.mode, self.trust_n]), self.trust_progress,
                                        view(self.figure), self.legend, W.HBox([self.metrics_button]),
                                        self.trust_table], self.trust_progress)

    def methods(self) -> list[str]:
        """The compared methods (the first 8), or the current one."""
        return list(self.state.compared)[:len(COLOURS)] or [self.state.method]

    @guarded
    def sanity(self, button=None) -> None:
        """Model randomisation of the compared methods."""
        st = self.state
        job = lab.sanity_job(self.session, self.methods(), self.trust_n.value, st.split, st.layers(), self.mode.value,
                             target=st.eval_target())
        sampled = self.sampled(job)
        self.submit(job, lambda r: self._show_sanity(r, sampled), act="sanity")

    def sampled(self, job) -> str:
        """The job's images in words (its key ends with the seed of the sample and the target)."""
        return self.session.data.describe_sample(self.state.split, self.trust_n.value, job.key[-2])

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
        st = self.state
        job = lab.trust_job(self.session, self.methods(), self.trust_n.value, st.split, st.layers(),
                            target=st.eval_target())
        sampled = self.sampled(job)
        if job.key[-1] is not None:  # a target that is not a class: no other class for random-logit
            sampled += (f" for the {text(job.key[-1][0])} target's score; random_logit needs a classifier's other "
                        "classes and is left out")
        self.submit(job, lambda rows: self._show_metrics(rows, sampled), act="metrics")

    def _show_metrics(self, rows, sampled: str = "") -> None:
        self.trust_rows_ = rows
        text = (f"<small>on {sampled}. Higher is better: faithfulness, sparseness; lower is better: "
                "max_sensitivity, complexity, random_logit (Quantus' conventions)</small>" + Table(rows).to_html())
        both = self._merged(rows)
        if len(both) >= 2:
            agree = metric_agreement(both)
            text += ("<b>Do the metrics agree on the order of the methods?</b> (Kendall's tau; 1: the same order)"
                     + Table([{"metric": a, **{b: round(v, 2) for b, v in zip(agree["metrics"], row)}}
                              for a, row in zip(agree["metrics"], agree["matrix"])]).to_html())
        self.trust_table.value = text

    def _merged(self, rows) -> list[dict]:
        """These rows joined with the ranking table's, by method, where it has been computed."""
        ranked = {r["method"]: r for r in self.state.rows}
        return [{**{k: v for k, v in ranked.get(r["method"], {}).items() if k not in ("rank", "seconds")}, **r}
                for r in rows]
