import DPModel

extension SafetensorsFile {
    /// Checks that the file holds the tensors of `layout` under `prefix` ("" for model.safetensors,
    /// "m." for AdamW's first moments, …) with exactly the layout's shapes: a [128, 32] tensor where
    /// [32, 128] is expected is refused, although it holds as many values. With `exact`, a tensor
    /// of another name (one this model does not have) is refused too.
    ///
    /// - Throws: `SafetensorsError` naming the first tensor at fault: missing, of another shape,
    ///   or (with `exact`) not part of the model.
    /// - Complexity: O(tensors).
    public func check(_ layout: ParameterLayout, prefix: String = "", exact: Bool) throws {
        for spec in layout.tensors {
            let name = prefix + spec.name
            guard let shape = shape(name) else {
                throw SafetensorsError("has no tensor \"\(name)\", which the model needs")
            }
            guard shape == spec.shape else {
                throw SafetensorsError("has tensor \"\(name)\" of shape \(shape); the model needs \(spec.shape)")
            }
        }
        if exact {
            let expected = Set(layout.tensors.map { prefix + $0.name })
            if let extra = names.first(where: { !expected.contains($0) }) {
                throw SafetensorsError("has tensor \"\(extra)\", which the model does not have")
            }
        }
    }

    /// Whether the file holds any tensor of `layout` under `prefix`.
    func holdsAny(of layout: ParameterLayout, prefix: String) -> Bool {
        layout.tensors.contains { shape(prefix + $0.name) != nil }
    }

    /// Copies the tensors of `layout` under `prefix` into `buffer` (laid out as `layout`), after
    /// `check(layout, prefix:, exact: false)` passed. O(layout.count).
    func copy(_ layout: ParameterLayout, prefix: String = "", into buffer: UnsafeMutableBufferPointer<Float>) throws {
        precondition(buffer.count == layout.count, "buffer of \(buffer.count) floats for a layout of \(layout.count)")
        try check(layout, prefix: prefix, exact: false)
        for spec in layout.tensors {
            try copy(prefix + spec.name, into: UnsafeMutableBufferPointer(rebasing: buffer[spec.range]))
        }
    }
}
