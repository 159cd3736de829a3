"""Training stages: what a loss reports of the data it was prepared on."""

import numpy as np
import pytest

from benchmark.errors import BenchError
from benchmark.stages import loss_evidence


class Reporting:
    """A loss reduced to its ``evidence()``."""

    def __init__(self, evidence):
        self.evidence = lambda: evidence


def test_a_losss_evidence_is_taken_as_reported_and_a_loss_without_it_reports_none():
    assert loss_evidence(object()) is None
    assert loss_evidence(Reporting({})) == {}
    report = {"cider_thresholds": {"percentiles": [80, 90, 99], "values": [0.1, 0.2, 0.3], "method": "exact"}}
    assert loss_evidence(Reporting(report)) == report


@pytest.mark.parametrize("evidence, problem", [
    ([0.1, 0.2], "evidence() returned a list; it must return a dict of JSON values"),
    ({"threshold": np.float32(0.5)}, "values that are not JSON (Object of type float32 is not JSON serializable)"),
    ({"threshold": float("nan")}, "values that are not JSON (Out of range float values are not JSON compliant"),
])
def test_evidence_that_is_not_a_mapping_of_json_values_is_refused_before_training(evidence, problem):
    with pytest.raises(BenchError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        loss_evidence(Reporting(evidence))
