// SPDX-License-Identifier: GPL-2.0
/*
 * Guest side of ucalls and a small vsnprintf for guest assertions.  Runs in
 * L1 and L2: no libc, no TLS, nothing but the stack and the caller's data.
 */
#include "ucall.h"

void arch_ucall_trigger(struct ucall *uc);

void ucall(uint64_t cmd, int nargs, ...)
{
	struct ucall uc;
	va_list ap;
	int i;

	uc.cmd = cmd;
	uc.buf[0] = '\0';
	va_start(ap, nargs);
	for (i = 0; i < UCALL_MAX_ARGS; i++)
		uc.args[i] = i < nargs ? va_arg(ap, uint64_t) : 0;
	va_end(ap);
	arch_ucall_trigger(&uc);
}

void ucall_fmt(uint64_t cmd, const char *file, int line, const char *fmt, ...)
{
	struct ucall uc;
	va_list ap;
	int n, i;

	uc.cmd = cmd;
	for (i = 0; i < UCALL_MAX_ARGS; i++)
		uc.args[i] = 0;
	n = guest_snprintf(uc.buf, UCALL_BUF_LEN, "%s:%d: ", file, line);
	if (n > UCALL_BUF_LEN - 1)
		n = UCALL_BUF_LEN - 1;
	va_start(ap, fmt);
	guest_vsnprintf(uc.buf + n, UCALL_BUF_LEN - n, fmt, ap);
	va_end(ap);
	arch_ucall_trigger(&uc);
}

struct out {
	char *buf;
	int len;
	int pos;
};

static void put(struct out *o, char c)
{
	if (o->pos < o->len - 1)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_num(struct out *o, uint64_t v, unsigned int base, bool neg,
		    int width, char pad, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg && pad == '0')
		put(o, '-');
	for (width -= n + (neg ? 1 : 0); width > 0; width--)
		put(o, pad);
	if (neg && pad != '0')
		put(o, '-');
	while (n)
		put(o, tmp[--n]);
}

int guest_vsnprintf(char *buf, int len, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .len = len, .pos = 0 };
	const char *s;

	for (; *fmt; fmt++) {
		int width = 0, longs = 0;
		char pad = ' ';
		uint64_t u;
		int64_t d;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i':
			d = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(&o, d < 0 ? -(uint64_t)d : (uint64_t)d, 10, d < 0,
				width, pad, false);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(&o, u, *fmt == 'u' ? 10 : 16, false, width, pad,
				*fmt == 'X');
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uintptr_t)va_arg(ap, void *), 16, false,
				width, pad, false);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's':
			s = va_arg(ap, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				put(&o, *s);
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
			break;
		}
	}
	if (len > 0)
		buf[o.pos < len ? o.pos : len - 1] = '\0';
	return o.pos;
}

int guest_snprintf(char *buf, int len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = guest_vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}
