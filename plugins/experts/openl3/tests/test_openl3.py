"""OpenL3 keeps the expert contract with the report's Table 1 numbers."""

from bench_openl3.expert import OpenL3

from benchmark.testing import PretrainedExpertContract


class TestOpenL3(PretrainedExpertContract):
    expert_class = OpenL3
    parameters, frame_rate, dim = 4_687_042, 2.0, 512  # report, Table 1 (frame rate on 20 s)
    bfloat16_on_auto = True
