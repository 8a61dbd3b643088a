import DPModel
import Foundation

extension Restore {
    /// A model of the checkpoint's configuration holding its weights, with activations for
    /// batches of up to `maxBatch` rows. Every rank may call it (the checkpoint was broadcast).
    ///
    /// - Throws: `ModelConfigError` for `maxBatch` < 1, `ConfigError` naming model.safetensors when
    ///   a tensor of the configuration is missing from it or has another size.
    public func makeModel(maxBatch: Int) throws -> Model {
        let model = try Model(config: state.model, maxBatch: maxBatch)
        for spec in model.layout.tensors {
            do {
                try self.model.copy(spec.name, into: UnsafeMutableBufferPointer(rebasing: model.parameters[spec.range]))
            } catch {
                throw ConfigError("\(directory)/\(Restore.modelFile) does not fit the model its state.json describes: \(error).")
            }
        }
        return model
    }
}
