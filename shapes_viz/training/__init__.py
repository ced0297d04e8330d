"""Training: a run of the trainer (`train`) and the server's jobs that run it in a subprocess.

    train(data_dir, "models/shapes_cnn.h5", recipe="stable")      # in the trainer process (TensorFlow)
    jobs = TrainingJobs("models/shapes_cnn.h5")                   # in the app process (no TensorFlow)
    jobs.start(TrainRequest(data_dir=...)); jobs.status().state   # "starting", "running", "done", ...

Modules: `run` (train), `pipeline` (tf.data), `watcher` (the epoch callback), `gate` (the publish gate),
`precision` (bfloat16 or float32), `threads` (threads per operation), `stopping` (the early stop),
`progress` (the events between trainer and app), `status` (a job as a session sees it), `jobs` (the
subprocesses), `estimate` (how long a run takes), `variants_run` (the architecture variants compared),
`coin_dropout` (the trainer's Dropout(0.5)), `averaging` (the averaged weights in view). Importing this package
imports no TensorFlow (the app imports it).
"""

from shapes_viz.training.jobs import TrainingJobs, TrainRequest
from shapes_viz.training.run import TrainingResult, train
from shapes_viz.training.status import CANCELLED, DONE, FAILED, IDLE, KEPT, RUNNING, STARTING, JobStatus

__all__ = [
    "CANCELLED", "DONE", "FAILED", "IDLE", "KEPT", "RUNNING", "STARTING",
    "JobStatus", "TrainRequest", "TrainingJobs", "TrainingResult", "train",
]
