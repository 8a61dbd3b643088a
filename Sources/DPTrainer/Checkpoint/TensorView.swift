/// One F32 tensor to write into a safetensors file: its name, its shape and its values,
/// row-major (the last dimension varies fastest).
///
/// The view borrows `values`; the buffer must stay alive until `Safetensors.encode` returns.
/// `values.count` must equal the product of `shape` (the product of `[]` is 1: a scalar).
public struct TensorView {
    public let name: String
    public let shape: [Int]
    public let values: UnsafeBufferPointer<Float>

    public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor \(name): negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == values.count,
                     "tensor \(name): shape \(shape) holds \(shape.reduce(1, *)) values, the buffer \(values.count)")
        self.name = name
        self.shape = shape
        self.values = values
    }
}
