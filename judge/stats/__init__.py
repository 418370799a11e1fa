"""Pure statistics over tidy pandas frames: cluster bootstrap, fairness metrics, corrections.

Every metric returns a DataFrame with the columns of :data:`METRIC_COLUMNS` (one row per
metric, attribute and level); see docs/METRICS.md.
"""

from judge.stats._metric_table import ALL_LEVELS, COLUMNS as METRIC_COLUMNS, attribute_names, to_table as metric_table  # noqa: I001
from judge.stats.bootstrap import ClusterBootstrap, Estimate
from judge.stats.counterfactual import counterfactual_metrics, counterfactual_pairs, counterfactual_set_summary, worst_levels
from judge.stats.fairness import calibration_by_group, calibration_curve, demographic_parity, equalized_odds, failure_rates, quality_of_service, rate_by_group, unawareness_rate
from judge.stats.individual import embedding_distance, individual_fairness, jaccard_distance, lipschitz_pairs, rouge_l_distance
from judge.stats.exposure import extract_mentions, gini, position_weight, producer_exposure
from judge.stats.intersectional import intersectional_cells, minimum_detectable_effect
from judge.stats.multiple import adjust_pvalues, adjust_table
from judge.stats.suite import all_metrics, compare_tables

__all__ = [
    "ALL_LEVELS", "METRIC_COLUMNS", "attribute_names", "metric_table",
    "ClusterBootstrap", "Estimate",
    "counterfactual_metrics", "counterfactual_pairs", "counterfactual_set_summary", "worst_levels",
    "calibration_by_group", "calibration_curve", "demographic_parity", "equalized_odds", "failure_rates", "quality_of_service", "rate_by_group", "unawareness_rate",
    "embedding_distance", "individual_fairness", "jaccard_distance", "lipschitz_pairs", "rouge_l_distance",
    "extract_mentions", "gini", "position_weight", "producer_exposure",
    "intersectional_cells", "minimum_detectable_effect",
    "adjust_pvalues", "adjust_table",
    "all_metrics", "compare_tables",
]
