// pool.h: a routine thread pool for fp-sinsp (--thread-pool N): libsinsp's own is compiled
// out of the default build, and Falco's is absent; capture listening plugins need one.
#pragma once

#include "driver.h"

namespace fp_sinsp {

// Runs every subscribed routine again and again on N threads until it returns false or is
// unsubscribed, as libsinsp's BS_thread_pool-based pool does.
class routine_pool : public sinsp_thread_pool {
public:
	explicit routine_pool(size_t n) {
		for(size_t i = 0; i < n; i++) {
			m_threads.emplace_back([this] { work(); });
		}
	}
	~routine_pool() override {
		purge();
		{
			std::lock_guard<std::mutex> l(m_lock);
			m_stop = true;
		}
		m_cv.notify_all();
		for(auto& t : m_threads) {
			t.join();
		}
	}
	routine_id_t subscribe(const std::function<bool()>& func) override {
		std::lock_guard<std::mutex> l(m_lock);
		auto r = std::make_shared<routine>(routine{func});
		auto id = reinterpret_cast<routine_id_t>(r.get());
		m_routines[id] = r;
		m_queue.push_back(r);
		m_cv.notify_one();
		return id;
	}
	bool unsubscribe(routine_id_t id) override {
		std::unique_lock<std::mutex> l(m_lock);
		auto it = m_routines.find(id);
		if(it == m_routines.end()) {
			return false;
		}
		it->second->cancelled = true;
		m_routines.erase(it);
		return true;
	}
	void purge() override {
		std::unique_lock<std::mutex> l(m_lock);
		for(auto& [id, r] : m_routines) {
			r->cancelled = true;
		}
		m_routines.clear();
		m_queue.clear();
		m_cv.wait(l, [this] { return m_running == 0; });
	}
	size_t routines_num() override {
		std::lock_guard<std::mutex> l(m_lock);
		return m_routines.size();
	}

private:
	struct routine {
		std::function<bool()> fn;
		bool cancelled = false;
	};
	void work() {
		std::unique_lock<std::mutex> l(m_lock);
		while(true) {
			m_cv.wait(l, [this] { return m_stop || !m_queue.empty(); });
			if(m_stop) {
				return;
			}
			auto r = m_queue.front();
			m_queue.erase(m_queue.begin());
			if(r->cancelled) {
				continue;
			}
			m_running++;
			l.unlock();
			bool again = r->fn();
			l.lock();
			m_running--;
			if(again && !r->cancelled) {
				m_queue.push_back(r);
			} else if(!r->cancelled) {
				m_routines.erase(reinterpret_cast<routine_id_t>(r.get()));
			}
			m_cv.notify_all();
		}
	}
	std::mutex m_lock;
	std::condition_variable m_cv;
	std::map<routine_id_t, std::shared_ptr<routine>> m_routines;
	std::vector<std::shared_ptr<routine>> m_queue;
	std::vector<std::thread> m_threads;
	size_t m_running = 0;
	bool m_stop = false;
};

}  // namespace fp_sinsp
