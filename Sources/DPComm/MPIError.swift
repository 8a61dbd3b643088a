/// A failed MPI call: which call, and the library's own description of the error code.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// The MPI function (or wrapper operation) that failed, e.g. "MPI_Allreduce".
    public let call: String
    /// MPI_Error_string of the returned code, or a description of the misuse.
    public let message: String
    /// The MPI error code, when the failure came from the library.
    public let code: Int32?

    public init(call: String, message: String, code: Int32? = nil) {
        self.call = call
        self.message = message
        self.code = code
    }

    public var description: String { "\(call) failed: \(message)" }
}
