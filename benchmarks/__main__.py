"""`make bench`: run every benchmark (python -m benchmarks [name ...])."""

import sys

from benchmarks import (aim, balanced_q, data_loading, dcw_mann, domain_invariance, episodic_memory, fast_path,
                        invalidator_tracer, mad, mbec, memory, nc_solver, neural_collapse, rl_seeds, safl, sandbox,
                        trojan_filter)

BENCHMARKS = {"data_loading": data_loading.main, "nc_solver": nc_solver.main, "episodic_memory": episodic_memory.main,
              "sandbox": sandbox.main, "domain_invariance": domain_invariance.main, "dcw_mann": dcw_mann.main,
              "aim": aim.main, "safl": safl.main, "balanced_q": balanced_q.main, "rl_seeds": rl_seeds.main,
              "invalidator_tracer": invalidator_tracer.main, "mbec": mbec.main, "mad": mad.main,
              "neural_collapse": neural_collapse.main, "trojan_filter": trojan_filter.main,
              "fast_path": fast_path.main, "memory": memory.main}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; available: {list(BENCHMARKS)}")
    for name in names:
        print(f"== {name}")
        BENCHMARKS[name]()
