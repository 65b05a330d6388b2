#include "textflag.h"

// func cloneKeeper(flags, stack uintptr, pidfd int32, name *byte) (pid, errno uintptr)
//
// clone(2) with the given flags and a stack of its own, with every signal
// blocked around it: the child copies Go's signal handlers, and with the
// mask it inherits none can ever run in it. The parent returns the child's
// PID. The child runs only the code below, on that stack, with registers
// alone (it shares the caller's memory but no Go code ever runs in it): it
// keeps pidfd and closes every other descriptor, names itself, drops to
// SCHED_IDLE, waits until the process behind pidfd has ended, and exits.
TEXT ·cloneKeeper(SB),NOSPLIT,$16-48
	// rt_sigprocmask(SIG_SETMASK, &all, &old, 8)
	MOVQ	$-1, 0(SP)
	MOVQ	$2, DI
	LEAQ	0(SP), SI
	LEAQ	8(SP), DX
	MOVQ	$8, R10
	MOVQ	$14, AX // SYS_rt_sigprocmask
	SYSCALL
	CMPQ	AX, $0
	JNE	failed
	MOVQ	flags+0(FP), DI
	MOVQ	stack+8(FP), SI
	MOVLQSX	pidfd+16(FP), R12
	MOVQ	name+24(FP), R13
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$56, AX // SYS_clone
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	MOVQ	AX, BX
	// rt_sigprocmask(SIG_SETMASK, &old, nil, 8)
	MOVQ	$2, DI
	LEAQ	8(SP), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	MOVQ	$14, AX // SYS_rt_sigprocmask
	SYSCALL
	MOVQ	BX, AX
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
failed:
	MOVQ	$0, pid+32(FP)
	NEGQ	AX
	MOVQ	AX, errno+40(FP)
	RET
ok:
	MOVQ	AX, pid+32(FP)
	MOVQ	$0, errno+40(FP)
	RET

child:
	// close_range(0, pidfd-1, 0), unless pidfd is 0.
	CMPQ	R12, $0
	JEQ	above
	XORQ	DI, DI
	MOVQ	R12, SI
	DECQ	SI
	XORQ	DX, DX
	MOVQ	$436, AX // SYS_close_range
	SYSCALL
	CMPQ	AX, $0
	JNE	exit // no close_range (Linux < 5.9): hold nothing, end at once
above:
	// close_range(pidfd+1, ~0U, 0)
	MOVQ	R12, DI
	INCQ	DI
	MOVL	$0xffffffff, SI
	XORQ	DX, DX
	MOVQ	$436, AX // SYS_close_range
	SYSCALL
	CMPQ	AX, $0
	JNE	exit
	// prctl(PR_SET_NAME, name)
	MOVQ	$15, DI
	MOVQ	R13, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	MOVQ	$157, AX // SYS_prctl
	SYSCALL
	// sched_setscheduler(0, SCHED_IDLE, &{0}): run only when a CPU is idle.
	SUBQ	$16, SP
	MOVQ	$0, 8(SP)
	XORQ	DI, DI
	MOVQ	$5, SI
	LEAQ	8(SP), DX
	MOVQ	$144, AX // SYS_sched_setscheduler
	SYSCALL
	// poll(&{pidfd, POLLIN}, 1, -1) until the process has ended.
	MOVL	R12, 0(SP)
loop:
	MOVL	$1, 4(SP) // events POLLIN, revents 0
	MOVQ	SP, DI
	MOVQ	$1, SI
	MOVQ	$-1, DX
	MOVQ	$7, AX // SYS_poll
	SYSCALL
	CMPQ	AX, $-4 // EINTR
	JEQ	loop
exit:
	XORQ	DI, DI
	MOVQ	$60, AX // SYS_exit
	SYSCALL
	JMP	exit
