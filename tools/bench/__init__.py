"""Benchmarks: `python -m tools.bench [--quick] [--out FILE] [--sections ...]`.

Every figure is a median over repeats, and every comparison a ratio measured in the same run on the
same machine (no timed assertions anywhere: tests only check that this runs, with --quick).

Sections (one module each):
    engine    prediction + all activations for one input: the Keras engine against the tutorial's
              way (model.predict plus the activation model's predict), and the app's numpy engine.
    explain   gradients and attribution maps in numpy on the shipped model: forward+backward and each
              method's median against its goal and as a multiple of the forward pass, again in a child
              process with OPENBLAS_NUM_THREADS=1; each method's deletion and insertion areas on test
              drawings against random maps and the ink, and its rank correlation with a randomised network.
    channels  the channels view in numpy on the shipped model and data/: the dataset scan of 300 drawings,
              test-set accuracy with 3 channels off, one channel's image, each against its goal and as a
              multiple of the forward pass; a whole layer's 64 images as the background job (time to finish,
              and one input's prediction meanwhile against idle); again with OPENBLAS_NUM_THREADS=1.
    training  a retrain on 210 images (70 a class) and test on 90: the default recipe and pipeline
              against the tutorial's (image_dataset_from_directory decoding files every epoch,
              RMSprop, batch 16), with the test accuracy each reached; and the default recipe cut to
              the tutorial's number of samples.
    browser   the real app (`streamlit run app.py`) in Debian's Chromium through Playwright:
              `streamlit run` to first prediction visible, end of a stroke to the prediction of the
              whole stroke, prediction updates per second while the pen moves, and a layer or channel
              change to the updated heatmap. Browser-side times come from the page's own clock
              (`performance.now()` of the input event and of the DOM change), so Playwright's
              round trips are not counted.
    memory    the server's resident memory with 1 browser session and with 10 (each drew a shape).

The full run writes the table into docs/benchmarks.md between the `bench:table` markers (the notes
around it, such as the before/after record, stay as they are): `report.py`.
"""
