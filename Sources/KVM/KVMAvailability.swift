/// Whether a KVM device can be used here, and if not, why: for test gates and `doctor`-style checks.
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

extension KVMAvailability {
    /// The environment variable that points tests (and only tests) at another device path, e.g. a missing one
    /// to hide KVM.
    public static let deviceOverrideVariable = "MMUTORTURE_KVM_DEVICE"
    /// The environment variable that turns a skip for want of KVM into a failure (set by CI).
    public static let requireVariable = "MMUTORTURE_REQUIRE_KVM"

    /// For test gates: the device to use, whether tests that need it should run, and the reason they skip.
    /// They run where the device opens, and also where it does not but `MMUTORTURE_REQUIRE_KVM=1` is set, so that
    /// they fail on the open instead of skipping silently.
    public static func testGate(environment: [String: String]) -> (devicePath: String, run: Bool, skipReason: String) {
        let path = environment[deviceOverrideVariable] ?? KVMSystem.defaultDevicePath
        let problem = self.problem(at: path)
        return (path, problem == nil || environment[requireVariable] == "1", "KVM unavailable: \(problem.map(String.init(describing:)) ?? "")")
    }
}
