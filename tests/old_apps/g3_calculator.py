"""gradio 3.41.2's calculator demo: a queue-less gr.Interface (Number, Radio, Number -> Number)."""

import gradio as gr
from g3_common import parse_args, record


def calculator(num1, operation, num2):
    record("calculator", num1=num1, num1_type=type(num1).__name__, operation=operation, num2=num2)
    if operation == "add":
        return num1 + num2
    elif operation == "subtract":
        return num1 - num2
    elif operation == "multiply":
        return num1 * num2
    elif operation == "divide":
        if num2 == 0:
            raise gr.Error("Cannot divide by zero!")
        return num1 / num2


demo = gr.Interface(
    calculator,
    [
        "number",
        gr.Radio(["add", "subtract", "multiply", "divide"]),
        "number",
    ],
    "number",
    examples=[
        [45, "add", 3],
        [3.14, "divide", 2],
        [144, "multiply", 2.5],
        [0, "subtract", 1.2],
    ],
    title="Toy Calculator",
    description="Here's a sample toy calculator. Allows you to calculate things like $2+2=4$",
)

if __name__ == "__main__":
    args = parse_args()
    demo.launch(server_name="127.0.0.1", server_port=args.port)
