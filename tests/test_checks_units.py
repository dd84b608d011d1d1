"""The pure parts of checking takes: normalisation, scores, the verdict, cheap signal checks,
and finding a recogniser's endpoint — no threads, no servers."""

from __future__ import annotations

import numpy as np
import pytest

from gbatch._api import Endpoint, Param, ServerApi
from gbatch._checks import normalize, score
from gbatch._checks.decide import TakeScore, Verdict, judge
from gbatch._checks.recognizer import find_recognizer, language_of
from gbatch._checks.signal import duration_findings, signal_findings
from gbatch._errors import ServerError

# --- normalisation, from real outputs ------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        # SenseVoice webui.py: an event emoji before, an emotion after, ITN punctuation
        ("🎼The lighthouse stood alone at the end of a long, narrow cape.😊", "The lighthouse stood alone at the end of a long narrow cape"),
        ("😀欢迎大家来体验达摩院推出的语音识别模型。😊", "欢迎大家来体验达摩院推出的语音识别模型"),
        ("❓", ""),
        # traditional characters heard, simplified written (and the other way round)
        ("歡迎大家來體驗達摩院推出的語音識別模型", "欢迎大家来体验达摩院推出的语音识别模型"),
        # numbers as digits against numbers in words, in English and Chinese
        ("He counted 112 steps.", "He counted one hundred and twelve steps"),
        ("Nobody wrote to him for twenty-three years", "Nobody wrote to him for 23 years."),
        ("我有二十三个苹果", "我有23个苹果。"),
        ("It cost 3.5 dollars", "It cost three point five dollars"),
        # English contractions, curly apostrophes and case
        ("I DON'T know whose it was", "I do not know whose it was"),
        ("it’s fine, we’re here", "It is fine. We are here!"),
    ],
)
def test_spellings_of_the_same_words_score_zero(heard: str, expected: str) -> None:
    assert score(expected, heard).error == 0.0, (normalize(expected), normalize(heard))


@pytest.mark.parametrize(
    ("expected", "spoken"),
    [
        ("You are a helpful assistant.<|endofprompt|>希望你以后能够做的比我还好呦。", "希望你以后能够做的比我还好呦"),
        ("在他讲述那个荒诞故事的过程中，他突然[laughter]停下来，因为他自己也被逗笑了[laughter]。", "在他讲述那个荒诞故事的过程中他突然停下来因为他自己也被逗笑了"),
        ("追求卓越不是终点，它需要你每天都<strong>付出</strong>和<strong>精进</strong>。", "追求卓越不是终点它需要你每天都付出和精进"),
        ("请用广东话表达。<|endofprompt|>今天天气真好[breath]。", "今天天气真好"),
        ("Take a deep breath [breath] and go on.", "take a deep breath and go on"),
    ],
)
def test_the_tools_markup_is_not_expected_to_be_heard(expected: str, spoken: str) -> None:
    assert score(expected, spoken).error == 0.0


def test_chinese_is_scored_per_character_english_per_word_and_mixed_text_per_script() -> None:
    cer = score("灯塔孤零零地立在海角的尽头", "灯塔孤零零地立在海角尽头")
    assert cer.measure == "cer" and cer.error == pytest.approx(1 / 13) and cer.differences == ["-的"]
    wer = score("ships passed far out at sea", "ships passed out at sea sea")
    assert wer.measure == "wer" and wer.error == pytest.approx(2 / 6) and wer.differences == ["-far", "+sea"]
    mixed = score("他说 hello world 你好", "他说 hello word 你好")
    assert mixed.measure == "mixed" and mixed.error == pytest.approx(1 / 6) and mixed.differences == ["world→word"]
    assert score("anything at all", "").error == 1.0


# --- the verdict ---------------------------------------------------------------------------


def verdict(*errors: float | None, fixed: bool = False, takes: int = 3) -> tuple[Verdict, int]:
    judged = judge([TakeScore(n, e) for n, e in enumerate(errors, start=1)], max_error=0.15, max_takes=takes, seed_fixed=fixed)
    return judged.verdict, judged.best


def test_a_take_within_the_limit_passes_and_a_bad_one_is_made_again() -> None:
    assert verdict(0.0) == (Verdict.PASSED, 1)
    assert verdict(0.15) == (Verdict.PASSED, 1)
    assert verdict(0.4) == (Verdict.REGENERATE, 1)
    assert verdict(0.4, 0.1) == (Verdict.PASSED, 2)


def test_after_the_last_take_the_best_is_kept_and_the_row_fails_its_check() -> None:
    assert verdict(0.4, 0.3, 0.5) == (Verdict.CHECK_FAILED, 2)
    assert verdict(0.4, 0.4, 0.4) == (Verdict.CHECK_FAILED, 1)  # a tie keeps the earliest
    assert verdict(0.4, takes=1) == (Verdict.CHECK_FAILED, 1)


def test_a_fixed_seed_is_flagged_not_retried() -> None:
    assert verdict(0.4, fixed=True) == (Verdict.FIXED_SEED, 1)
    assert verdict(0.1, fixed=True) == (Verdict.PASSED, 1)


def test_a_take_the_recogniser_could_not_hear_is_never_regenerated() -> None:
    assert verdict(None) == (Verdict.UNCHECKED, 1)
    assert verdict(0.4, None) == (Verdict.UNCHECKED, 1)  # best so far: the checked one
    with pytest.raises(ValueError):
        judge([], max_error=0.15, max_takes=3, seed_fixed=False)


# --- cheap checks ----------------------------------------------------------------------------


def tone(seconds: float, rate: int = 16000, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def figures(samples: np.ndarray) -> dict[str, tuple[float, bool]]:
    return {f.check: (round(f.figure, 2), f.flagged) for f in signal_findings(samples, 16000)}


def test_silences_and_clipping_report_their_figures() -> None:
    quiet = np.zeros(16000 * 4, dtype=np.float32)
    take = np.concatenate([quiet[: 16000 * 1 + 8000], tone(1.0), quiet[: 16000 * 3], tone(0.5), quiet[:16000]])
    found = figures(take)
    assert found["leading silence"] == (1.5, True)
    assert found["inner silence"] == (3.0, True)
    assert found["trailing silence"] == (1.0, False)
    assert found["clipping"] == (0.0, False)
    clipped = np.clip(tone(1.0, amplitude=2.0), -1, 1)
    assert figures(clipped)["clipping"][1] is True


def test_a_duration_that_cannot_hold_the_text_is_flagged() -> None:
    text = "This sentence is long enough that a tenth of a second cannot possibly hold it."
    rate, run_on = duration_findings(0.1, text)
    assert rate.flagged and rate.figure > 40 and not run_on.flagged
    rate, run_on = duration_findings(90.0, text)
    assert run_on.flagged and not rate.flagged
    assert not any(f.flagged for f in duration_findings(4.0, text))
    assert len(duration_findings(2.0, "灯塔孤零零地立在海角的尽头。")) == 2


# --- recogniser endpoints --------------------------------------------------------------------


def param(name: str, component: str, label: str = "", choices: tuple[str, ...] | None = None, default: object = None) -> Param:
    return Param(name, label, component, "str", {}, has_default=default is not None, default=default, choices=choices)


SENSEVOICE = Endpoint(
    "/model_inference",
    (param("input_wav", "Audio", "Upload audio or use the microphone"), param("language", "Dropdown", "Language", ("auto", "zh", "en", "yue", "ja", "ko", "nospeech"), "auto")),
    (param("value", "Textbox", "Results"),),
)


def api(*endpoints: Endpoint) -> ServerApi:
    return ServerApi("http://127.0.0.1:1/", "6.0", {e.name: e for e in endpoints})


def test_the_recognition_endpoint_is_found_by_shape_and_gets_the_rows_language() -> None:
    other = Endpoint("/clear", (), (param("value", "Textbox"),))
    found = find_recognizer(api(SENSEVOICE, other))
    assert found.endpoint.name == "/model_inference" and found.audio.name == "input_wav"
    assert found._choice("zh") == "zh" and found._choice("Chinese") == "zh" and found._choice("de") == "auto"
    assert language_of("灯塔", {}) == "zh" and language_of("こんにちは", {}) == "ja" and language_of("hi", {"language": "yue"}) == "yue"
    with pytest.raises(ServerError, match="no endpoint that takes audio"):
        find_recognizer(api(other))
    with pytest.raises(ServerError, match="--check-api"):
        find_recognizer(api(SENSEVOICE), "/nope")


def test_without_a_reachable_recogniser_every_take_is_left_unchecked_at_once() -> None:
    from pathlib import Path

    from gbatch._checks.stage import CheckJob, CheckStage

    stage = CheckStage([], unreachable="no recogniser server could be reached")
    stage.submit(CheckJob("a", 1, Path("a.wav"), "hello", "en"))
    stage.submit(CheckJob("b", 1, None, "hello", "en"))
    results = {r.job.row_id: r for r in stage.wait(1.0)}
    assert stage.pending == 0 and results["a"].transcript is None
    assert results["a"].error == "no recogniser server could be reached" and results["b"].error == "the take has no audio file"
    stage.close()
