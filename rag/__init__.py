"""minutes-qa: ask plain questions of council minutes, answered with cited agenda items.

Pipeline, one module per stage: load -> parse -> chunk -> store/embed/index (ingest) ->
retrieve -> answer; cli.py and app.py are thin interfaces over it.
"""

import os

# torch, faiss and llama.cpp each bring an OpenMP runtime. With the default (active)
# wait policy, idle threads of one spin on the cores the next one needs: on 2 cores an
# embedding call made a following FAISS search ~250x slower. Must be set before any of
# them is imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
