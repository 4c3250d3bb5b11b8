"""The packaged model's clips, judged by a classifier trained on rendered-instrument clips it
never heard, are named as the requested genre well above chance.

The bar here is a regression guard at the level measured for the packaged model (see
docs/default_model.md: about BAR_MEASURED over 300 clips; chance is 10%), not the quality bar of the
rendered-corpus issue (80%), which the packaged model does not meet yet.
"""

import pytest
import torch

from wavegen.audio import mu_law_decode
from wavegen.data.render import labelled_rendered_clips
from wavegen.data.toy import GTZAN_GENRES
from wavegen.engine import generate
from wavegen.eval.classifier import ClassifierConfig, predict, train_classifier
from wavegen.models.conditioning import one_hot
from wavegen.models.io import load_model

BAR = 0.3  # 3x chance; 30 clips give a standard error of about 9 points


@pytest.mark.slow
def test_generated_clips_are_recognized_as_their_genre():
    model, info = load_model()
    assert info.vocab == list(GTZAN_GENRES)
    # Clips of a corpus seed the packaged model was not trained on (it was trained on seed 0).
    clips, labels = labelled_rendered_clips(seed=101, per_genre=12, seconds=10.0,
                                            rate=info.sample_rate)
    clf = train_classifier(clips, labels, len(GTZAN_GENRES),
                           ClassifierConfig(sample_rate=info.sample_rate), steps=600, seed=0)
    test_clips, test_labels = labelled_rendered_clips(seed=202, per_genre=2, seconds=4.5,
                                                      rate=info.sample_rate)
    real_acc = (predict(clf, test_clips).argmax(1) == test_labels).mean()
    assert real_acc >= 0.8, f"classifier only {real_acc:.0%} on real clips"

    n, per_genre = len(GTZAN_GENRES), 3
    requested = torch.arange(n).repeat(per_genre)
    codes = generate(model, one_hot(requested, n), int(4.5 * info.sample_rate), seed=0,
                     **info.synth_defaults)  # as `wavegen synth` renders it
    audio = mu_law_decode(codes, info.config.n_classes).numpy()
    pred = predict(clf, list(audio)).argmax(1)
    acc = (pred == requested.numpy()).mean()
    assert acc >= BAR, f"generated clips recognized: {acc:.0%}; predictions {pred.tolist()}"
