import DPModel
import Foundation

extension Restore {
    /// A model of the checkpoint's configuration holding its weights, with activations for
    /// batches of up to `maxBatch` rows. Every rank may call it (the checkpoint was broadcast).
    ///
    /// - Throws: `ModelConfigError` for `maxBatch` < 1, `ConfigError` naming model.safetensors when
    ///   a tensor of the configuration is missing from it or has another shape.
    public func makeModel(maxBatch: Int) throws -> Model {
        let model = try Model(config: state.model, maxBatch: maxBatch)
        try loadWeights(into: model)
        return model
    }
}
