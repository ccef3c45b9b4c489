"""Long jobs over whole networks: resumable, chunked, with a static gallery."""

from jaxvis.jobs.visualize_job import run_visualize

__all__ = ["run_visualize"]
