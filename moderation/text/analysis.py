"""What a prompt contains, category by category: the pure half of prompt screening.

`prompt_analyse` reads no database and writes nothing: it takes the thresholds and the figure
matcher, and says which categories fire and why. `moderation.services.screening.prompt_screen`
turns that into a decision under the current policy and records it. The quality benchmark and
`moderation screen` run the same function, so what they measure is what production does.
"""

from dataclasses import dataclass, field

from moderation.models import Category
from moderation.text.descriptions import DEFAULT_THRESHOLD as DESCRIPTION_THRESHOLD
from moderation.text.descriptions import DescriptionIndex, DescriptionMatch
from moderation.text.figures import FigureMatch, FigureMatcher
from moderation.text.lexicon import lexicon
from moderation.text.normalise import variants
from moderation.text.semantic import MODEL_NAME, SemanticScores, semantic_scores

# The categories screened in text (realistic-face uploads are an image-only rule).
TEXT_CATEGORIES = [
    Category.SEXUAL_MINORS,
    Category.SEXUAL,
    Category.VIOLENCE,
    Category.SELF_HARM,
    Category.HATE,
    Category.HARASSMENT,
    Category.ILLEGAL,
    Category.DECEPTION,
    Category.SENSITIVE_EVENTS,
]

# Semantic-similarity thresholds, tuned on moderation/data/labelled_prompts.jsonl with
# `bench/moderation_quality.py --tune` (see docs/moderation-policy.md). A policy rule's
# `text_threshold` overrides them, so staff can move one without a deploy.
TEXT_THRESHOLDS: dict[str, float] = {
    Category.SEXUAL: 0.55,
    Category.SEXUAL_MINORS: 0.55,
    Category.VIOLENCE: 0.55,
    Category.SELF_HARM: 0.56,
    Category.HATE: 0.52,
    Category.HARASSMENT: 0.52,
    Category.ILLEGAL: 0.55,
    Category.DECEPTION: 0.59,
    Category.SENSITIVE_EVENTS: 0.6,
    # Not a category score: how close a phrase of the prompt must be to a registered figure's
    # role ("45th president of the United States") to name them (moderation.text.descriptions).
    Category.PUBLIC_FIGURE: DESCRIPTION_THRESHOLD,
}
# A documentary framing ("security camera photo", "CCTV still", "news photo") makes violence,
# sexual content and self-harm that are a little under their threshold real-looking evidence of
# a real event: they fire from this share of their threshold and are refused, not reviewed.
DOCUMENTARY_FACTOR = 0.95
DOCUMENTARY_CATEGORIES = (Category.VIOLENCE, Category.SEXUAL, Category.SELF_HARM)
# A minor cue turns a sexual prompt into sexual content involving minors even when the sexual
# signal alone is a little below its threshold: the cost of a miss there is far higher.
MINORS_SEXUAL_FACTOR = 0.8

MODEL_VERSIONS = {
    "text_normaliser": "2 (anyascii transliteration, surname-first, spaced-letter split)",
    "figure_matcher": "aho-corasick+symspell+phonetic 2, role descriptions 1",
    "semantic": MODEL_NAME,
}


@dataclass
class PromptAnalysis:
    categories: list[str] = field(default_factory=list)  # fired, most severe first
    scores: dict[str, float] = field(default_factory=dict)  # what was measured, for staff
    figure: FigureMatch | None = None
    description: DescriptionMatch | None = None  # set when the figure was described, not named
    lexicon_terms: dict[str, list[str]] = field(default_factory=dict)  # staff records only


def prompt_analyse(
    prompt: str,
    *,
    matcher: FigureMatcher,
    thresholds: dict[str, float] | None = None,
    descriptions: DescriptionIndex | None = None,
) -> PromptAnalysis:
    thresholds = {**TEXT_THRESHOLDS, **(thresholds or {})}
    readings = variants(prompt)
    text = readings[0]
    hits = lexicon().scan(text)
    for extra in readings[1:]:
        for category, terms in lexicon().scan(extra).categories.items():
            hits.categories.setdefault(category, []).extend(terms)
    semantic = semantic_scores(text or prompt)

    analysis = PromptAnalysis(lexicon_terms=hits.categories)
    analysis.scores["semantic_harmless"] = round(semantic.harmless, 4)
    fired: set[str] = set()
    for category in TEXT_CATEGORIES:
        similarity = semantic.scores.get(category, 0.0)
        analysis.scores[f"semantic_{category}"] = round(similarity, 4)
        from_words = category in hits.categories
        # The nearest example must be this category's, not a harmless look-alike's.
        threshold = thresholds[category]
        if hits.documentary and category in DOCUMENTARY_CATEGORIES:
            threshold *= DOCUMENTARY_FACTOR
        from_meaning = similarity >= threshold and similarity > semantic.harmless
        if category == Category.SEXUAL_MINORS and not (
            hits.minor_cue and _sexual_near(semantic, thresholds)
        ):
            # Both halves are needed: without a word for a child or an age under 18 there is no
            # evidence of a minor ("xxx photoshoot" is the sexual rule), and without a sexual
            # signal a child is just a child ("a teenage girl with headphones").
            from_meaning = False
        analysis.scores[category] = (
            1.0 if from_words else round(similarity if from_meaning else 0.0, 4)
        )
        if from_words or from_meaning:
            fired.add(category)

    sexual_near = Category.SEXUAL in fired or _sexual_near(semantic, thresholds)
    if hits.minor_cue and sexual_near:
        fired.add(Category.SEXUAL_MINORS)
        analysis.scores[Category.SEXUAL_MINORS] = 1.0
    if hits.art_style and Category.SENSITIVE_EVENTS in fired:
        # A painting of a war is not a documentary depiction of one.
        fired.discard(Category.SENSITIVE_EVENTS)
        analysis.scores["sensitive_events_art_style"] = 1.0

    figure = matcher.find(readings)
    if figure is None and descriptions is not None and semantic.encoded is not None:
        described = descriptions.find(
            text, semantic.encoded, threshold=thresholds[Category.PUBLIC_FIGURE]
        )
        if described is not None:
            analysis.description = described
            analysis.scores["public_figure_description"] = round(described.similarity, 4)
            figure = FigureMatch(described.figure_id, described.name, described.role, "role")
    if figure is not None:
        analysis.figure = figure
        fired.add(Category.PUBLIC_FIGURE)
        analysis.scores[Category.PUBLIC_FIGURE] = 1.0

    order = [Category.SEXUAL_MINORS, Category.PUBLIC_FIGURE, *TEXT_CATEGORIES[1:]]
    analysis.categories = [str(category) for category in order if category in fired]
    return analysis


def _sexual_near(semantic: SemanticScores, thresholds: dict[str, float]) -> bool:
    # No comparison with the harmless examples here: beside a minor cue, a sexual signal a
    # little under the sexual threshold is enough (a miss costs far more than a review).
    return (
        semantic.scores.get(Category.SEXUAL, 0.0)
        >= thresholds[Category.SEXUAL] * MINORS_SEXUAL_FACTOR
    )
