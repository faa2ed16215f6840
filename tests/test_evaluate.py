"""The evaluation metrics, on a scripted ask function; the question sets of our own."""

import json
from pathlib import Path

import pytest

from rsiqa.evaluate import evaluate, fold, gold_pages_in, load_judgements, load_questions, page_of

ROWS = [
    {"id": "a", "question": "q1", "gold": ["Stuart  Armstrong\nposits"]},
    {"id": "b", "question": "q2", "gold": ["compilers"]},
    {"id": "c", "question": "q3", "gold": ["never found"]},
    {"id": "o", "question": "cooking?", "gold": [], "out_of_scope": True},
]


def fake_ask(question, k, history):
    texts = {
        "q1": ["STUART ARMSTRONG posits that it would not", "other"],
        "q2": ["x", "y", "AIs are like compilers"],
        "q3": ["nothing"],
    }
    if question == "cooking?":
        return {"abstained": True, "citations": []}
    return {"abstained": False, "citations": [{"text": t} for t in texts[question]]}


def test_hits_mrr_and_abstention_are_computed_from_citations():
    report = evaluate(ROWS, fake_ask)
    f = report.figures()
    assert f["hit@1"] == pytest.approx(1 / 3) and f["hit@3"] == pytest.approx(2 / 3) and f["hit@5"] == pytest.approx(2 / 3)
    assert f["mrr@10"] == pytest.approx((1 + 1 / 3) / 3)
    assert f["declined_out_of_scope"] == 1.0 and f["declined_in_scope"] == 0.0
    assert any(m.startswith("b [plain]: rank 3") for m in report.misses)
    assert any(m.startswith("c [plain]: not in top 10") for m in report.misses)
    assert "hit@1 0.333" in report.render()


def test_answer_hit_and_figures_per_style():
    rows = [
        {"id": "k", "question": "q1", "style": "keyword", "gold": ["stuart armstrong posits"],
         "answer_gold": ["it would not"]},
        {"id": "w", "question": "q2", "style": "who", "gold": ["compilers"]},  # no answer_gold: gold counts
        {"id": "n", "question": "near?", "style": "near_domain", "gold": [], "out_of_scope": True},
        {"id": "d", "question": "drift?", "style": "drift_followup", "gold": [], "out_of_scope": True},
    ]
    answers = {
        "q1": {"abstained": False, "answer": "Armstrong says IT WOULD\nnot. [1]", "citations": [{"text": "x"},
               {"text": "Stuart Armstrong posits"}]},
        "q2": {"abstained": False, "answer": "Ted Chiang. [1]", "citations": [{"text": "AIs are like compilers"}]},
        "near?": {"abstained": True, "answer": "not covered", "citations": []},
        "drift?": {"abstained": False, "answer": "something [1]", "citations": [{"text": "t"}]},
    }
    report = evaluate(rows, lambda q, k, h: answers[q])
    f = report.figures()
    assert f["answer_hit"] == 0.5  # q1's answer holds its answer_gold; q2's does not hold "compilers"
    assert f["styles"]["keyword"]["hit@1"] == 0.0 and f["styles"]["keyword"]["mrr@10"] == 0.5
    assert f["styles"]["keyword"]["answer_hit"] == 1.0 and f["styles"]["who"]["answer_hit"] == 0.0
    assert f["styles"]["near_domain"]["declined_out_of_scope"] == 1.0
    assert f["styles"]["drift_followup"]["declined_out_of_scope"] == 0.0
    text = report.render()
    assert "near_domain" in text and "declined 1/1" in text and "declined 0/1" in text
    assert "w [who]: rank 1, answer misses" in text
    hidden = report.render(misses=False)  # a blind set: the figures, not its questions
    assert "declined 1/1" in hidden and "misses: 3 (not shown)" in hidden
    assert "[who]" not in hidden and "drift?" not in hidden


def test_page_figures_count_another_passage_of_the_gold_page_as_the_right_page():
    faq = {"url": "https://docs.example/faq.html#defaults", "path": "faq.html"}
    faq_other = {"url": "https://docs.example/faq.html#lambdas", "path": "faq.html"}
    tutorial = {"url": None, "path": "tutorial/controlflow.html"}
    index = [("Default values are evaluated once.", faq), ("Lambdas capture variables.", faq_other),
             ("The default value is evaluated only once.", tutorial)]
    rows = [
        {"id": "same", "question": "q1", "gold": ["default values are evaluated once"]},
        {"id": "other", "question": "q2", "gold": ["lambdas capture"]},
        {"id": "wrong", "question": "q3", "gold": ["lambdas capture"]},
    ]
    answers = {  # q1: the gold passage first; q2: another section of the gold page first; q3: another page
        "q1": [("Default values are evaluated once.", faq)],
        "q2": [("Default values are evaluated once.", faq), ("Lambdas capture variables.", faq_other)],
        "q3": [("The default value is evaluated only once.", tutorial)] * 5 + [("Lambdas capture variables.", faq_other)],
    }

    def ask(question, k, history):
        return {"abstained": False, "answer": "", "citations": [{"text": t, "source": s} for t, s in answers[question]]}

    f = evaluate(rows, ask, gold_pages_in(index)).figures()
    assert f["hit@1"] == pytest.approx(1 / 3)
    assert f["page@1"] == pytest.approx(2 / 3) and f["page@5"] == pytest.approx(2 / 3)  # q3's is 6th
    assert "page@1" not in evaluate(rows, ask).figures()  # without an index, no page figures
    assert page_of(faq) == "https://docs.example/faq.html" and page_of(tutorial) == "tutorial/controlflow.html"
    assert "right page: page@1 0.667" in evaluate(rows, ask, gold_pages_in(index)).render()


def test_judgements_say_how_often_the_first_citation_was_judged_to_answer(tmp_path):
    rows = [{"id": "a", "question": "qa", "gold": ["x"]}, {"id": "b", "question": "qb", "gold": ["x"]},
            {"id": "c", "question": "qc", "gold": ["x"]}, {"id": "d", "question": "qd", "gold": ["x"]},
            {"id": "oos", "question": "qo", "out_of_scope": True}]
    first = {"qa": "c1", "qb": "c2", "qc": "c9", "qd": None, "qo": None}  # qc: nobody judged c9; qd: declined

    def ask(question, k, history):
        chunk = first[question]
        return {"abstained": chunk is None, "answer": "",
                "citations": [] if chunk is None else [{"text": "t", "chunk_id": chunk, "source": {}}]}

    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "chunk_id": "c1", "label": "yes"}, {"id": "b", "chunk_id": "c2", "label": "partly"},
        {"id": "b", "chunk_id": "c1", "label": "yes"},  # another question's verdict on c1 does not count for b
    ]), encoding="utf-8")
    report = evaluate(rows, ask, judgements=load_judgements(path))
    f = report.figures()
    assert f["judged@1"] == pytest.approx(1 / 4) and f["judged_or_partly@1"] == pytest.approx(2 / 4)
    assert f["unjudged_first_citations"] == 1  # counted apart, never as right
    assert "the first citation answers 1/4 (0.250)" in report.render()
    assert "judged@1" not in evaluate(rows, ask).figures()  # without judgements, no such figure
    path.write_text(json.dumps({"id": "a", "chunk_id": "c1", "label": "maybe"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"j.jsonl:1"):
        load_judgements(path)


def test_the_python_judgements_are_of_our_python_questions():
    root = Path(__file__).resolve().parent.parent
    def in_scope(name: str) -> set[str]:
        return {r["id"] for r in load_questions(root / "eval" / name) if not r.get("out_of_scope")}
    judged = {question for question, _ in load_judgements(root / "eval" / "pydocs_judgements.jsonl")}
    fully = in_scope("pydocs_questions.jsonl") | in_scope("pydocs_dev_questions.jsonl") | in_scope("pydocs_blind_questions.jsonl")
    assert fully <= judged  # every in-scope question of these sets is judged
    assert judged <= fully | in_scope("pydocs_why_questions.jsonl")  # (the why-questions in part) and nothing else


def test_fold_lowercases_and_folds_white_space():
    assert fold("  A\tB\n\nc ") == "a b c"


def test_bad_jsonl_names_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "x", "question": "q"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q.jsonl:2"):
        load_questions(path)


@pytest.mark.parametrize(("name", "once"), [
    ("validation_questions.jsonl", True), ("holdout_questions.jsonl", True), ("styles_validation.jsonl", True),
    ("styles_holdout.jsonl", True),
    ("styles_blind.jsonl", False),  # kept as written blind; one compare question's phrase occurs twice
    ("styles_blind2.jsonl", True), ("styles_blind3.jsonl", True), ("styles_blind4.jsonl", True), ("definitions.jsonl", True),
    ("followups_dev.jsonl", True), ("abstention_dev.jsonl", True),
    ("followups_check.jsonl", True), ("styles_blind5.jsonl", True), ("styles_blind6.jsonl", True),
    ("styles_blind7.jsonl", True), ("styles_blind8.jsonl", True), ("styles_blind9.jsonl", True),
    ("styles_blind10.jsonl", True),
    ("abstention_check.jsonl", True),
])
def test_our_question_sets_have_every_gold_phrase_in_the_corpus(name, once):
    root = Path(__file__).resolve().parent.parent
    corpus = fold((root / "corpus" / "recursive-self-improvement-debate.txt").read_text(encoding="utf-8"))
    rows = load_questions(root / "eval" / name)
    assert len({r["id"] for r in rows}) == len(rows) and any(r.get("out_of_scope") for r in rows)
    for row in rows:
        assert bool(row.get("gold")) != bool(row.get("out_of_scope")), row["id"]
        counts = [corpus.count(fold(g)) for g in row.get("gold", []) + row.get("answer_gold", [])]
        assert all(counts), row["id"]  # every gold and answer_gold phrase is in the material
        assert not once or all(c == 1 for c in counts[:len(row.get("gold", []))]), row["id"]  # and picks one passage


def test_chained_asks_a_follow_up_after_its_own_answer_to_the_history():
    from rsiqa.evaluate import chained

    calls = []

    def ask(question, k, history):
        calls.append((question, history))
        return {"abstained": False, "answer": f"About {question} [1] and more [3]",
                "citations": [{"n": 1, "chunk_id": "c1", "text": "t"}, {"n": 2, "chunk_id": "c2", "text": "t"},
                              {"n": 3, "chunk_id": "c3", "text": "t"}]}

    written = [{"role": "user", "content": "Old?"}, {"role": "assistant", "content": "Old answer."},
               {"role": "user", "content": "What does Chiang think?"}, {"role": "assistant", "content": "Written."}]
    chained(ask)("And why?", 10, written)
    assert calls[0] == ("What does Chiang think?", [])
    assert calls[1] == ("And why?", [{"role": "user", "content": "What does Chiang think?"},
                                     {"role": "assistant", "content": "About What does Chiang think? [1] and more [3]",
                                      "citations": ["c1", "c3"]}])
    calls.clear()
    chained(ask)("Alone?", 10, [])
    assert calls == [("Alone?", [])]
