/*
 * hold-static-keys: keeps one VM with one vCPU alive for the whole boot of the lab's guest, so that the static
 * keys KVM flips stay switched on (preempt_notifier_key, from every VM's creation; kvm_has_noapic_vcpu, from a
 * vCPU without an in-kernel local APIC, as every torture run creates) and creating or destroying a run's VM
 * never patches kernel text.
 *
 * Why: under QEMU's TCG, such a flip now and then left both of the guest's CPUs cycling for good between a
 * static-branch site in __schedule and the int3 handler of the kernel's text patching (text_poke_bp), the guest
 * taking no interrupt again. LAB.md ("The stock-kernel hang under TCG") has the evidence.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("hold-static-keys: open /dev/kvm");
		return 69;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_VCPU, 0) < 0) {
		perror("hold-static-keys: creating a VM and a vCPU");
		return 70;
	}
	printf("hold-static-keys: holding a VM with a vCPU without an in-kernel LAPIC\n");
	fflush(stdout);
	for (;;)
		pause();
}
