/// An error that every rank throws alike at the same point (for example a non-finite loss, which
/// all ranks see after the same all-reduce), so that it can be reported once by rank 0 and every
/// rank can exit together, without aborting the job.
public protocol AgreedError: Error, CustomStringConvertible {
    /// The process's exit status for this error; 1 unless the error says otherwise.
    var exitStatus: Int32 { get }
}

extension AgreedError {
    public var exitStatus: Int32 { 1 }
}
