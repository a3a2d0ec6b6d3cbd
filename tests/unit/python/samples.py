# Sample code whose line tables the interpreter test checks; valid syntax for CPython 3.8-3.13.
# The generated long functions (>255-line jumps) are appended by dump_code_lines.py.
import asyncio
import contextlib

MODULE_CONSTANT = [value * 2 for value in range(3)]


def plain(a, b=2):
    total = a + b
    if total > 10:
        return total
    return -total


def closure_factory(offset):
    counter = 0

    def inner(x):
        nonlocal counter
        counter += 1
        return x + offset + counter

    return inner


class CallableChain:
    def __init__(self, nxt):
        self.nxt = nxt

    def __call__(self):
        return self.nxt()()


def generator(limit):
    for i in range(limit):
        if i % 2:
            yield i
        else:
            yield -i
    yield from range(3)


async def coroutine(delay):
    await asyncio.sleep(delay)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(asyncio.sleep, 0)
    return [x async for x in async_generator(3)]


async def async_generator(n):
    for i in range(n):
        yield i
        await asyncio.sleep(0)


def comprehensions(items):
    squares = [x * x for x in items if x]
    lookup = {x: y for x, y in zip(items, squares)}
    unique = {x % 3 for x in items}
    lazy = (x + 1
            for x in items
            if x > 1)
    nested = [[y for y in range(x)] for x in items]
    return squares, lookup, unique, list(lazy), nested


def exceptions(value):
    try:
        result = 10 / value
    except ZeroDivisionError as error:
        result = str(error)
    except (TypeError, ValueError):
        raise
    else:
        result = result * 2
    finally:
        value = None
    try:
        return result
    finally:
        print("done")


def with_blocks(path):
    with open(path) as first, contextlib.suppress(OSError):
        data = first.read()
    with contextlib.ExitStack() as stack:
        stack.callback(print, "exit")
        with contextlib.suppress(KeyError):
            return {}[data]


def loops(n):
    total = 0
    while n > 0:
        n -= 1
        if n == 5:
            continue
        total += n
    else:
        total = -total
    for i in range(3):
        if i == 2:
            break
    return total


def decorator(function):
    return function


@decorator
def decorated(x):
    return (x
            +
            1)


def lambdas():
    square = lambda v: v * v
    pick = lambda a, b=3: (a
                           if a else b)
    return sorted([3, 1, 2], key=lambda v: -v), square(2), pick(0)


def walrus_and_fstring(data):
    if (size := len(data)) > 2:
        return f"{size} items: {data!r:>{size}}"
    return None


class Outer:
    attribute = [i for i in range(2)]

    class Inner:
        def method(self):
            return super().__init__()

    @staticmethod
    def static(a):
        return a

    @property
    def prop(self):
        return self.attribute


if __name__ == "__main__":
    print(plain(1))
