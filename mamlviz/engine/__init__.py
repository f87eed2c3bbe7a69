"""Everything that needs torch: the model, exact meta-gradients, tasks on the device, the training
loop, evaluation and measurement. Nothing outside this package imports torch at import time, so the
dashboard (and a hosted copy without torch) starts without it.

    model     the functional 4-block CNN          meta      the variants' meta-gradients (loop, vmap)
    tasks     N-way K-shot sampling on the device data      the Omniglot array on the device, split
    adam      capturable Adam                     step      one meta-iteration by a path; path choice
    train     the training loop                   evaluate  accuracy on held-out tasks
    measure   clocks, peak memory, environment    run       compare() and sweep(): whole experiments
    seed_api  the seed project's train_maml()
"""

from .run import compare, sweep

__all__ = ["compare", "sweep"]
