"""The packaged model's clips, judged by a classifier trained on real toy clips, are named as
the requested genre at least 90% of the time (the quality bar of docs/default_model.md;
chance is 10%)."""

import pytest
import torch

from wavegen.audio import mu_law_decode
from wavegen.data.toy import GTZAN_GENRES, labelled_clips
from wavegen.engine import generate
from wavegen.eval.classifier import ClassifierConfig, predict, train_classifier
from wavegen.models.conditioning import one_hot
from wavegen.models.io import load_model


@pytest.mark.slow
def test_generated_clips_are_recognized_as_their_genre():
    model, info = load_model()
    assert info.vocab == list(GTZAN_GENRES)
    # As the recipe's stage-3 classifier: 24 training clips x 6 s per genre, 600 steps.
    clips, labels = labelled_clips(seed=101, per_genre=24, seconds=6.0, rate=info.sample_rate)
    clf = train_classifier(clips, labels, len(GTZAN_GENRES),
                           ClassifierConfig(sample_rate=info.sample_rate), steps=600, seed=0)
    test_clips, test_labels = labelled_clips(seed=202, per_genre=3, seconds=2.0,
                                             rate=info.sample_rate)
    real_acc = (predict(clf, test_clips).argmax(1) == test_labels).mean()
    assert real_acc >= 0.9, f"classifier only {real_acc:.0%} on real clips"

    n, per_genre = len(GTZAN_GENRES), 3
    requested = torch.arange(n).repeat(per_genre)  # 30 clips: a 10-clip estimate is too noisy
    codes = generate(model, one_hot(requested, n), int(3.0 * info.sample_rate), seed=0,
                     **info.synth_defaults)  # as `wavegen synth` renders it
    audio = mu_law_decode(codes, info.config.n_classes).numpy()
    pred = predict(clf, list(audio)).argmax(1)
    acc = (pred == requested.numpy()).mean()
    assert acc >= 0.9, f"generated clips recognized: {acc:.0%}; predictions {pred.tolist()}"
