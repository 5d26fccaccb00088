/// Whether a KVM device can be used here, and if not, why (for a caller's own gate or host check).
public enum KVMAvailability {
    /// Opens the device at `path` (a real open and `KVM_GET_API_VERSION`, not a look at permission bits) and
    /// returns nil if it works, or the error that explains why not.
    public static func problem(at path: String = KVMSystem.defaultDevicePath) -> KVMError? {
        do {
            _ = try KVMSystem(devicePath: path)
            return nil
        } catch let error as KVMError {
            return error
        } catch {
            return KVMError(operation: "open", errno: 0, context: path, hint: "\(error)")
        }
    }
}
