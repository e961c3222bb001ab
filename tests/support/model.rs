//! A scripted model on 127.0.0.1: just enough of three APIs to request the tool calls of a
//! scenario, one per turn, and to keep what the harness sent back (the tool results: what the
//! model was told):
//!
//! - the Anthropic Messages API (`/v1/messages`, streamed events, as Claude Code asks for them):
//!   step N is a `tool_use` block with id `toolu_N`;
//! - the OpenAI Responses API (`/v1/responses`, streamed events, as Codex CLI asks for them):
//!   step N is a `function_call` (`call_N`, the input as its JSON arguments) or, for a step
//!   whose input is a string (Codex's freeform `apply_patch`), a `custom_tool_call`;
//! - the OpenAI Chat Completions API (`/v1/chat/completions`, streamed or not, as aider asks
//!   through litellm): step N is the text of the Nth answer (a step's input is the text).
//!
//! A request that offers no tools (a harness's side requests: titles, summaries) gets a short
//! text answer. The server ends with the test: its thread stops when the listener is dropped
//! by `Model::stop`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One tool call the model asks for.
#[derive(Debug, Clone)]
pub struct Step {
    pub tool: String,
    pub input: Value,
}

pub fn step(tool: &str, input: Value) -> Step {
    Step {
        tool: tool.into(),
        input,
    }
}

/// The running server.
pub struct Model {
    pub port: u16,
    /// Every request body the harness sent, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Model {
    /// Listen on 127.0.0.1 (in the calling thread's network namespace) and serve `steps`.
    pub fn start(steps: Vec<Step>) -> Model {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let (r, steps) = (r.clone(), steps.clone());
                        std::thread::spawn(move || serve(conn, &steps, &r));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        Model {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The tool results the harness sent back, by tool call id (`toolu_N` or `call_N` for
    /// step N), with their text.
    pub fn tool_results(&self) -> Vec<(String, String, bool)> {
        let mut out: Vec<(String, String, bool)> = Vec::new();
        for req in self.requests.lock().unwrap().iter() {
            for item in req["input"].as_array().into_iter().flatten() {
                let kind = item["type"].as_str().unwrap_or_default();
                if kind == "function_call_output" || kind == "custom_tool_call_output" {
                    let id = item["call_id"].as_str().unwrap_or_default().to_string();
                    let text = match &item["output"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if !out.iter().any(|(i, _, _)| *i == id) {
                        out.push((id, text, false));
                    }
                }
            }
            for m in req["messages"].as_array().into_iter().flatten() {
                for b in m["content"].as_array().into_iter().flatten() {
                    if b["type"] == "tool_result" {
                        let id = b["tool_use_id"].as_str().unwrap_or_default().to_string();
                        let text = match &b["content"] {
                            Value::String(s) => s.clone(),
                            Value::Array(parts) => parts
                                .iter()
                                .filter_map(|p| p["text"].as_str())
                                .collect::<Vec<_>>()
                                .join("\n"),
                            _ => String::new(),
                        };
                        let err = b["is_error"].as_bool().unwrap_or(false);
                        if !out.iter().any(|(i, _, _)| *i == id) {
                            out.push((id, text, err));
                        }
                    }
                }
            }
        }
        out
    }

    pub fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer the requests of one connection (keep-alive).
fn serve(conn: TcpStream, steps: &[Step], requests: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let request_line = line.trim().to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let post = request_line.starts_with("POST");
        let reply = if post && request_line.contains("/responses") {
            requests.lock().unwrap().push(v.clone());
            answer_responses(&v, steps)
        } else if post && request_line.contains("/chat/completions") {
            let mut all = requests.lock().unwrap();
            // aider's prompts hold example exchanges: the step is the number of main requests
            // answered before, not the assistant messages this one holds.
            let before = all.iter().filter(|r| !asks_commit_message(r)).count();
            all.push(v.clone());
            answer_chat(&v, steps, before)
        } else if post && request_line.contains("/messages") {
            if !request_line.contains("count_tokens") {
                requests.lock().unwrap().push(v.clone());
            }
            answer(&v, steps, request_line.contains("count_tokens"))
        } else {
            // Anything else (a probe of the API): an empty JSON object.
            Reply::Json(json!({}))
        };
        let ok = match reply {
            Reply::Json(j) => {
                let b = j.to_string();
                write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{b}",
                    b.len()
                )
            }
            Reply::Events(ev) => write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ncontent-length: {}\r\n\r\n{ev}",
                ev.len()
            ),
        };
        if ok.is_err() || conn.flush().is_err() {
            return;
        }
    }
}

enum Reply {
    Json(Value),
    Events(String),
}

/// Which step a request of the main loop is at: the number of tool results it carries.
fn answer(req: &Value, steps: &[Step], count_tokens: bool) -> Reply {
    if count_tokens {
        return Reply::Json(json!({"input_tokens": 10}));
    }
    let offers_tools = req["tools"].as_array().is_some_and(|t| !t.is_empty());
    let done = req["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_result")
        .count();
    let model = req["model"].as_str().unwrap_or("claude-test").to_string();
    let content = if offers_tools && done < steps.len() {
        let s = &steps[done];
        json!({"type": "tool_use", "id": format!("toolu_{done}"), "name": s.tool, "input": s.input})
    } else {
        json!({"type": "text", "text": "done"})
    };
    let stop = if content["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    };
    let message = json!({
        "id": format!("msg_{done}"), "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    });
    if req["stream"] != true {
        let mut m = message;
        m["content"] = json!([content]);
        m["stop_reason"] = json!(stop);
        return Reply::Json(m);
    }
    let mut ev = String::new();
    let mut push = |name: &str, data: Value| {
        ev.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    push(
        "message_start",
        json!({"type": "message_start", "message": message}),
    );
    if content["type"] == "tool_use" {
        let mut start = content.clone();
        start["input"] = json!({});
        push(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": start}),
        );
        push(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": content["input"].to_string()}}),
        );
    } else {
        push(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
        push(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "done"}}),
        );
    }
    push(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    push(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 1}}),
    );
    push("message_stop", json!({"type": "message_stop"}));
    Reply::Events(ev)
}

/// A stream of server sent events, each `event: NAME` with its JSON (the `type` set to NAME).
fn events(list: Vec<(&str, Value)>) -> String {
    let mut ev = String::new();
    for (name, mut data) in list {
        data["type"] = json!(name);
        ev.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    }
    ev
}

/// The Responses API: which step a request is at is the number of tool outputs its input
/// carries; past the last step, a message that says it is done.
fn answer_responses(req: &Value, steps: &[Step]) -> Reply {
    let done = req["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| {
            let t = i["type"].as_str().unwrap_or_default();
            t == "function_call_output" || t == "custom_tool_call_output"
        })
        .count();
    let offers_tools = req["tools"].as_array().is_some_and(|t| !t.is_empty());
    let item = match steps.get(done) {
        Some(s) if offers_tools => match &s.input {
            Value::String(text) => json!({
                "type": "custom_tool_call", "id": format!("ctc_{done}"), "call_id": format!("call_{done}"),
                "name": s.tool, "input": text,
            }),
            input => json!({
                "type": "function_call", "id": format!("fc_{done}"), "call_id": format!("call_{done}"),
                "name": s.tool, "arguments": input.to_string(),
            }),
        },
        _ => json!({
            "type": "message", "role": "assistant", "id": format!("msg_{done}"),
            "content": [{"type": "output_text", "text": "done", "annotations": []}],
        }),
    };
    let id = format!("resp_{done}");
    Reply::Events(events(vec![
        ("response.created", json!({"response": {"id": id}})),
        (
            "response.output_item.done",
            json!({"output_index": 0, "item": item}),
        ),
        (
            "response.completed",
            json!({"response": {"id": id, "usage": {
                "input_tokens": 10, "input_tokens_details": null, "output_tokens": 1,
                "output_tokens_details": null, "total_tokens": 11,
            }}}),
        ),
    ]))
}

/// A Chat Completions request that asks for a commit message (aider asks the model for one).
fn asks_commit_message(req: &Value) -> bool {
    req["messages"].as_array().into_iter().flatten().any(|m| {
        m["role"] == "system"
            && m["content"]
                .as_str()
                .is_some_and(|c| c.contains("commit message"))
    })
}

/// Chat Completions: the answer is the text of step `before` (the main requests answered
/// before this one); past the last step, "done". A request for a commit message is answered
/// with one line.
fn answer_chat(req: &Value, steps: &[Step], before: usize) -> Reply {
    let text = if asks_commit_message(req) {
        "chore: the scripted change".to_string()
    } else {
        match steps.get(before).map(|s| &s.input) {
            Some(Value::String(t)) => t.clone(),
            _ => "done".to_string(),
        }
    };
    let model = req["model"].as_str().unwrap_or("gpt-test").to_string();
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11});
    if req["stream"] != true {
        return Reply::Json(json!({
            "id": "chatcmpl-0", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        }));
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-0", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut ev = String::new();
    for c in [
        chunk(json!({"role": "assistant", "content": text}), Value::Null),
        chunk(json!({}), json!("stop")),
    ] {
        ev.push_str(&format!("data: {c}\n\n"));
    }
    ev.push_str("data: [DONE]\n\n");
    Reply::Events(ev)
}
