"""AIM: an additive instance-wise multi-class explainer (Vo et al., ICLR 2023; official code isVy08/AIM).

Public API:
- `AIM(black_box, num_classes, features, config).fit(train_x, val_x).explain(x, k)`: the top-K features of each
  item for its black-box label and every class's weights from one pass; `.explain_adaptive(x, k_max)`;
- black boxes: `embedding_black_box(model)` (a torch text classifier, masked through a hook on its embedding),
  `callable_black_box(fn)` (any function of token ids returning probabilities), `image_black_box(model)`
  (images as a grid of patches), `WordCNN`;
- features: `FeatureKind("tokens", vocab=V)` or `FeatureKind("patches", patch=7, image_size=28)`;
- raw strings, any black box: `TextAIM(tokenizer).fit(texts, predict_proba).explain(texts, k)` (per class the top
  words with their weights), tokenizers `RegexTokenizer`, `whitespace_tokenizer()`, `HuggingFaceTokenizer`,
  black-box adapters `sklearn_classifier(pipeline)`, `huggingface_classifier(model, tokenizer)`, `keeps_label`;
- text: `Vocabulary`, `build_task`, `tokenize`; metrics: `top_k`, `deletion_scores`, `brevity`, `purity`, the
  evaluation `Protocol` (the official code's: `metrics.OFFICIAL`);
- baselines: `L2X`, `lime_scores`, `lime_weights`, `kernel_shap_scores`, `integrated_gradients_scores`, `random_scores`.
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("aim", "Vo et al., An Additive Instance-Wise Approach to Multi-class Model Interpretation (AIM), "
                    "ICLR 2023", "reprolab.methods.aim.experiment")

_API = {
    "AIM": "reprolab.methods.aim.explainer:AIM",
    "AIMConfig": "reprolab.methods.aim.explainer:AIMConfig",
    "Explanation": "reprolab.methods.aim.explainer:Explanation",
    "FeatureKind": "reprolab.methods.aim.modules:FeatureKind",
    "ModuleSizes": "reprolab.methods.aim.modules:ModuleSizes",
    "embedding_black_box": "reprolab.methods.aim.blackbox:embedding_black_box",
    "callable_black_box": "reprolab.methods.aim.blackbox:callable_black_box",
    "image_black_box": "reprolab.methods.aim.blackbox:image_black_box",
    "WordCNN": "reprolab.methods.aim.blackbox:WordCNN",
    "Vocabulary": "reprolab.methods.aim.corpus:Vocabulary",
    "build_task": "reprolab.methods.aim.corpus:build_task",
    "tokenize": "reprolab.methods.aim.corpus:tokenize",
    "TextAIM": "reprolab.methods.aim.text:TextAIM",
    "TextExplanation": "reprolab.methods.aim.text:TextExplanation",
    "RegexTokenizer": "reprolab.methods.aim.text:RegexTokenizer",
    "whitespace_tokenizer": "reprolab.methods.aim.text:whitespace_tokenizer",
    "HuggingFaceTokenizer": "reprolab.methods.aim.text:HuggingFaceTokenizer",
    "sklearn_classifier": "reprolab.methods.aim.text:sklearn_classifier",
    "huggingface_classifier": "reprolab.methods.aim.text:huggingface_classifier",
    "keeps_label": "reprolab.methods.aim.text:keeps_label",
    "top_k": "reprolab.methods.aim.metrics:top_k",
    "Protocol": "reprolab.methods.aim.metrics:Protocol",
    "deletion_scores": "reprolab.methods.aim.metrics:deletion_scores",
    "brevity": "reprolab.methods.aim.wordnet:brevity",
    "purity": "reprolab.methods.aim.wordnet:purity",
    "L2X": "reprolab.methods.aim.baselines:L2X",
    "lime_scores": "reprolab.methods.aim.baselines:lime_scores",
    "lime_weights": "reprolab.methods.aim.baselines:lime_weights",
    "kernel_shap_scores": "reprolab.methods.aim.baselines:kernel_shap_scores",
    "integrated_gradients_scores": "reprolab.methods.aim.baselines:integrated_gradients_scores",
    "random_scores": "reprolab.methods.aim.baselines:random_scores",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
