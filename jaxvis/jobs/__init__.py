"""Long jobs over whole networks: resumable, chunked, with a static gallery.
Each ``run_<job>(config, workdir)`` is what ``jaxvis <job> --config=... --workdir=...`` runs."""

from jaxvis.jobs.correspondence_job import run_correspondence
from jaxvis.jobs.evolution_job import run_evolution
from jaxvis.jobs.invariance_job import run_invariance
from jaxvis.jobs.occlusion_job import run_occlusion
from jaxvis.jobs.search_job import run_search
from jaxvis.jobs.topk_job import run_topk
from jaxvis.jobs.visualize_job import run_visualize

__all__ = ["run_correspondence", "run_evolution", "run_invariance", "run_occlusion", "run_search", "run_topk",
           "run_visualize"]
