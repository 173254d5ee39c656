//! The renderer used when stdout is not a terminal (CI, pipes, `--plain`): it draws nothing,
//! since [`crate::epoch_log::EpochLog`] prints one line per epoch instead of Burn's
//! one debug line per batch.

use burn::train::LearnerSummary;
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    MetricState, MetricsRenderer, MetricsRendererTraining, ProgressType, TrainingProgress,
};

/// A [`MetricsRenderer`] that renders nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuietRenderer;

impl MetricsRendererTraining for QuietRenderer {
    fn update_train(&mut self, _state: MetricState) {}

    fn update_valid(&mut self, _state: MetricState) {}

    fn render_train(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}

    fn render_valid(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

/// Implements Burn's `MetricsRendererEvaluation` for `$renderer` as drawing nothing: the
/// training tool's renderers ([`QuietRenderer`], [`crate::watch::WatchRenderer`]) serve
/// training only (the test set is scored by [`crate::evaluate`]).
macro_rules! renders_no_evaluation {
    ($renderer:ty) => {
        impl burn::train::renderer::MetricsRendererEvaluation for $renderer {
            fn update_test(
                &mut self,
                _name: burn::train::renderer::EvaluationName,
                _state: burn::train::renderer::MetricState,
            ) {
            }

            fn render_test(
                &mut self,
                _item: burn::train::renderer::EvaluationProgress,
                _indicators: Vec<burn::train::renderer::ProgressType>,
            ) {
            }

            fn on_test_end(
                &mut self,
                _summary: Option<burn::train::LearnerSummary>,
            ) -> Result<(), Box<dyn std::error::Error>> {
                Ok(())
            }
        }
    };
}
pub(crate) use renders_no_evaluation;

renders_no_evaluation!(QuietRenderer);

impl MetricsRenderer for QuietRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, _definition: MetricDefinition) {}
}
