// Switchyard stand-in for <ankerl/unordered_dense.h> (unordered_dense 5.3.2),
// which mediasoup >= 3.21 includes but which neither Debian 12 nor npm ships.
// Written for Switchyard; it contains no code of the real library.
//
// mediasoup 3.32.2 uses exactly three names from it (checked with grep over
// worker/include and worker/src):
//   - ankerl::unordered_dense::map<K, V[, Hash]>   (std::unordered_map-like API)
//   - ankerl::unordered_dense::set<K>              (std::unordered_set-like API)
//   - ankerl::unordered_dense::hash<T>{}(integer)  (feeding its own hash combiners)
// plus one user hash that declares `using is_avalanching = void;`, a tag that
// only the real library reads. It never calls the real library's extras
// (values(), nth(), extract(), replace(), segmented_map, pmr).
//
// So the containers below are the standard ones. Differences that matter:
//   - The real map keeps its elements in a vector: erase() and insert()
//     invalidate iterators and references to other elements. The standard
//     containers invalidate less (references stay valid), so code written for
//     the real library stays correct here; the reverse would not hold.
//   - Iteration order differs (the real one is insertion order until an
//     erase). mediasoup promises no order for these maps (dumps and stats
//     only iterate them).
//   - Speed: std::unordered_map is node-based, so lookups are somewhat slower
//     than the real flat map. Not measurable at an SFU's map sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

namespace ankerl::unordered_dense
{
	namespace detail
	{
		// A 64-bit finalizer (the splitmix64 one): every input bit affects
		// every output bit, which is what `is_avalanching` promises.
		constexpr uint64_t Mix(uint64_t x) noexcept
		{
			x ^= x >> 30U;
			x *= UINT64_C(0xbf58476d1ce4e5b9);
			x ^= x >> 27U;
			x *= UINT64_C(0x94d049bb133111eb);
			x ^= x >> 31U;
			return x;
		}

		template<typename T>
		constexpr bool IsMixable = std::is_integral_v<T> || std::is_enum_v<T> || std::is_pointer_v<T>;
	} // namespace detail

	// Anything that is not an integer, enum or pointer (std::string keys, for
	// example) uses the standard hash.
	template<typename T, typename Enable = void>
	struct hash
	{
		auto operator()(const T& value) const noexcept(noexcept(std::hash<T>{}(value))) -> uint64_t
		{
			return static_cast<uint64_t>(std::hash<T>{}(value));
		}
	};

	// Integers, enums and pointers: mixed, like the real library's, so that the
	// combiners mediasoup builds on top (boost-style hash_combine) stay good.
	template<typename T>
	struct hash<T, std::enable_if_t<detail::IsMixable<T>>>
	{
		using is_avalanching = void;

		auto operator()(const T& value) const noexcept -> uint64_t
		{
			if constexpr (std::is_pointer_v<T>)
			{
				return detail::Mix(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(value)));
			}
			else if constexpr (std::is_enum_v<T>)
			{
				return detail::Mix(static_cast<uint64_t>(static_cast<std::underlying_type_t<T>>(value)));
			}
			else
			{
				return detail::Mix(static_cast<uint64_t>(value));
			}
		}
	};

	// Same template parameters as the real map and set up to the key-equality
	// one; the real fifth one (a container or allocator) is deliberately absent
	// so that any use of it fails to compile instead of meaning something else.
	template<typename Key, typename T, typename Hash = hash<Key>, typename KeyEqual = std::equal_to<Key>>
	using map = std::unordered_map<Key, T, Hash, KeyEqual>;

	template<typename Key, typename Hash = hash<Key>, typename KeyEqual = std::equal_to<Key>>
	using set = std::unordered_set<Key, Hash, KeyEqual>;
} // namespace ankerl::unordered_dense
